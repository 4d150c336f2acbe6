"""The command line: `python -um runner.report SWEEP_DIR [flags]` (see the package docstring)."""

import argparse
import sys
from typing import Optional, Sequence

from runner import errors
from runner.report.build import build_report
from runner.report.runs import DEFAULT_METRIC, FALLBACK_METRIC


def main(argv: Optional[Sequence[str]] = None) -> int:
  """Writes the report of the sweep named in `argv`; returns the exit status: 0, or
  errors.EXIT_BAD_INPUT after a one-line message on stderr."""
  parser = argparse.ArgumentParser(
      prog='runner.report', description='Learning curves and a summary table for a sweep.')
  parser.add_argument('sweep_dir', help='Directory holding the run directories of a sweep.')
  parser.add_argument('--out', default=None, help='Output directory (default: <sweep_dir>/report).')
  parser.add_argument('--metric', default=DEFAULT_METRIC,
                      help='Key of metrics.jsonl to report (default: %(default)s; falls back to '
                      f'{FALLBACK_METRIC} for runs without an evaluation phase).')
  parser.add_argument('--baselines_dir', default=None,
                      help="Dopamine's baseline curves (default: those shipped with runner.report, "
                      'in its dopamine_baselines folder); "" for none.')
  parser.add_argument('--x', default='steps', choices=['steps', 'iteration'],
                      help='x axis: agent training steps or iteration (default: %(default)s).')
  parser.add_argument('--confidence', type=float, default=0.95)
  parser.add_argument('--bootstrap_samples', type=int, default=10000)
  parser.add_argument('--seed', type=int, default=0, help='Seed of the bootstrap.')
  args = parser.parse_args(argv)

  try:
    report_path, figures = build_report(args.sweep_dir, args.out, args.metric, args.baselines_dir,
                                        args.x, args.confidence, args.bootstrap_samples, args.seed)
  except errors.BadInputError as error:
    # As errors.run_command reports it, but returned: callers (and tests) get the status.
    print(f'runner.report: error: {error}', file=sys.stderr)
    return errors.EXIT_BAD_INPUT
  print(f'Wrote {report_path} and {len(figures)} figure(s): {", ".join(figures)}')
  return 0
