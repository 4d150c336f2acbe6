r"""Sweep reports: learning curves and a summary table that compare the groups of runs of a sweep.

    python -um runner.report runs/sweep1 [--out DIR] [--metric eval/average_return] \
        [--baselines_dir PATH] [--x steps|iteration] [--confidence 0.95] \
        [--bootstrap_samples 10000] [--seed 0]

Every directory under the sweep directory that holds `metrics.jsonl` is a run (`checkpoints/` is not
searched); it is read from its run-directory files alone (`config.gin`, `metrics.jsonl`, see
DESIGN.md), so the report works on any runs, finished or still going, however they were started.
Writes to `--out` (default `<sweep dir>/report/`):

    report.md     one row per group: seeds, iterations, final mean [CI], final IQM, best mean, the
                  mean over iterations, Dopamine's value at the same step; with several methods,
                  the probability of improvement between them; notes; the runs
    curves*.png   learning curves, one figure per task (game or environment) when the groups differ
                  by task, else one: mean over seeds with a shaded CI, IQM dashed, Dopamine dotted
    performance_profiles.png
                  with several methods, their run-score distributions over the tasks they all ran

One module per job:
    gin_text.py      config.gin's bindings and imports, read as text with gin's parser
    declarations.py  what agents and domain factories declare for reports, found by importing them
    runs.py          finding and reading runs; grouping and naming groups; the metric compared
    statistics.py    mean, bootstrap CI, IQM; performance profiles, probability of improvement
    baselines.py     Dopamine's published curves (shipped in dopamine_baselines/)
    results.py       per-group results and the comparisons between methods
    figures.py       the PNGs (matplotlib, object-oriented API)
    markdown.py      report.md
    build.py         build_report: all of the above, in order
    cli.py           the command line (`main`)

Metric: `eval/average_return` by default; a group whose runs have no eval records (schedule
`continuous_train`, as in Dopamine's Atari protocol) is reported with `train/average_return`, and
the report says so. x axis: `steps`, the agent training steps at the end of each iteration,
(iteration + 1) * Runner.training_steps, or `iteration`.

Bad input (no runs, a corrupt metrics.jsonl or config.gin, an unknown metric, a missing baselines
directory) ends with a one-line message and exit status 2 (runner.errors), as in runner.train.
The report never imports the drivers (runner.train, runner.run_experiment).
"""

from runner.errors import BadInputError
from runner.report.baselines import (BASELINE_REMARKS, DEFAULT_BASELINES_DIR, Baseline,
                                     load_baseline)
from runner.report.build import REPORT_FILE, build_report
from runner.report.cli import main
from runner.report.declarations import Declarations, find_declarations
from runner.report.gin_text import (ConfigurableReference, MacroReference, find_binding,
                                    format_value, parse_bindings, parse_config, resolve_macros,
                                    split_key)
from runner.report.results import GroupResult, compare_groups
from runner.report.runs import (CONFIG_FILE, DEFAULT_METRIC, FALLBACK_METRIC, UNSET, Group, Run,
                                aligned_values, choose_metric, differing_keys,
                                find_run_directories, group_runs, ignored_keys, load_run, task_of)
from runner.report.statistics import (CurveStatistics, Estimate, average_score_distribution,
                                      bootstrap_mean_ci, curve_statistics, interquartile_mean,
                                      iqm_weights, performance_profile, probability_of_improvement,
                                      probability_of_improvement_estimate, score_distribution)
