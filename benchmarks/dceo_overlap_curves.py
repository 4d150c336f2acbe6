"""DCEO variants side by side over a run: how near phi is to what it can reach, and what it covers.

    .venv/bin/python benchmarks/dceo_overlap_curves.py --layout maze \
        --variants vmax_1_epsilon_0.1=reference uvp_vmax_1_epsilon_0.1='uniform_visited + procrustes'

Each variant is a folder of benchmarks/dceo_exploration.py's runs (benchmarks/out/dceo_exploration/
<variant>/<layout>/dceo_seed*, label after '='). Read from each run's metrics.jsonl, per
iteration: `agent/visited_subspace_overlap` (phi against the eigenvectors of the graph of the
cells its replay holds at that time, agents/laplacian_grid.GridSpectrum: 1 when phi spans what a
learner of the replay should converge to) and `train/positions_visited_total` (the distinct cells
visited so far). Drawn: both against training steps, the median over seeds with the interquartile
band, one colour per variant, to benchmarks/results/dceo_overlap_curves_<layout>.png (or
--figure). Printed: each variant's median overlap at a few points of the run, so a phi that
lags early and catches up late shows as such.
"""

import argparse
import glob
import os
import sys

import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks import common  # noqa: E402
from runner import metrics  # noqa: E402

OVERLAP = 'agent/visited_subspace_overlap'
CELLS = 'train/positions_visited_total'


def read_variant(out_dir: str, variant: str, layout: str):
  """(steps, overlap per run, cells per run) of a variant's DCEO runs on `layout`."""
  runs = sorted(glob.glob(os.path.join(out_dir, variant, layout, 'dceo_seed*')))
  if not runs:
    sys.exit(f'no DCEO runs under {os.path.join(out_dir, variant, layout)}')
  steps, overlaps, cells = None, [], []
  for base_dir in runs:
    records = metrics.read_metrics(base_dir)
    if any(OVERLAP not in record for record in records[1:]):
      sys.exit(f'{base_dir}: no {OVERLAP} in its metrics (a run from before it was logged, or '
               'not on a named grid): rerun it')
    steps = np.cumsum([record['train/steps'] for record in records])
    # The first iteration may end before d + 1 cells are visited: no overlap yet.
    overlaps.append([record.get(OVERLAP, np.nan) for record in records])
    cells.append([record[CELLS] for record in records])
  return steps, overlaps, cells


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--layout', default='maze')
  parser.add_argument('--variants', nargs='+', required=True,
                      help="variant folders, each as NAME or NAME=label")
  parser.add_argument('--out_dir', default=os.path.join(common.REPO, 'benchmarks', 'out',
                                                        'dceo_exploration'))
  parser.add_argument('--figure', default=None)
  args = parser.parse_args()
  figure_path = args.figure or os.path.join(common.REPO, 'benchmarks', 'results',
                                            f'dceo_overlap_curves_{args.layout}.png')
  figure, (overlap_axis, cells_axis) = plt.subplots(1, 2, figsize=(11, 4))
  colours = plt.rcParams['axes.prop_cycle'].by_key()['color']
  print(f'| variant ({args.layout}) | median visited_subspace_overlap at 10%, 25%, 50%, 100% of '
        'the run | median cells at the end |')
  print('|---|---|---|')
  for colour, spec in zip(colours, args.variants):
    variant, _, label = spec.partition('=')
    steps, overlaps, cells = read_variant(args.out_dir, variant, args.layout)
    label = label or variant
    common.plot_median_band(overlap_axis, steps, overlaps, colour, label)
    common.plot_median_band(cells_axis, steps, cells, colour, label)
    median = np.nanmedian(np.array(overlaps, np.float64), axis=0)
    points = [median[max(int(round(share * len(median))) - 1, 0)]
              for share in (0.1, 0.25, 0.5, 1.0)]
    print(f'| {label} | {", ".join(f"{value:.3f}" for value in points)} | '
          f'{np.median([run[-1] for run in cells]):.0f} |')
  overlap_axis.set_ylabel("phi's overlap with the visited cells' span")
  cells_axis.set_ylabel('distinct cells visited')
  for axis in (overlap_axis, cells_axis):
    axis.set_xlabel('training steps')
    axis.legend()
  figure.suptitle(f'DCEO on {args.layout}: median over seeds, IQR shaded')
  common.save_figure(figure, figure_path)
  print(f'\nfigure: {figure_path}')


if __name__ == '__main__':
  main()
