"""`python -um runner.report SWEEP_DIR [flags]`: writes the sweep's report (see runner/report)."""

import sys

from runner.report.cli import main

sys.exit(main())
