"""Do DCEO's options do what they are for? Each option should climb its eigenfunction.

    .venv/bin/python benchmarks/dceo_option_check.py benchmarks/out/dceo_exploration/four_rooms/dceo_seed*

For each trained DCEO grid-world run given (e.g. those of benchmarks/dceo_exploration.py), the
agent is restored from its newest checkpoint (`offline.components.restore_trained`); on its grid
(`DCEOAgent.grid_layout`), from `--starts` uniformly drawn free cells, each
option acts greedily (`DCEOAgent.option_action`) for `--steps` steps, and so does a uniform random
policy from the same cells. Printed per option: the mean change of the option's eigenfunction
phi_e over the walk (its learned phi, not the exact one), the random walk's, and the range of
phi_e over the grid for scale. An option that learned its intrinsic reward climbs clearly more
than a random walk does.

And how far each option is from what it should have learned: the optimal Q-values for its intrinsic
reward phi_e(s') - phi_e(s) over the cells training visited (agents/laplacian_grid.
eigenoption_values at the agent's discount; unvisited cells count as walls, since the option had
no data there), and the share of visited cells where the option's greedy action is optimal (within
1e-3 of the best action's value), beside how often a uniformly random action is. An option must
be right at nearly every cell of a corridor to carry the agent along it: one wrong cell stalls it.
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from agents import laplacian_grid  # noqa: E402
from benchmarks import common  # noqa: E402
from discrete_domains import gridworld  # noqa: E402
from offline import components  # noqa: E402

OPTIMAL_WITHIN = 1e-3


def walk_gain(environment, cells, cell_observations, phi_e, start, steps, choose_action):
  environment.reset(seed=0)
  environment.unwrapped.cell = cells[start]
  observation = cell_observations[start]
  for _ in range(steps):
    observation, *_ = environment.step(choose_action(observation))
  return phi_e[cells.index(environment.unwrapped.cell)] - phi_e[start]


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('runs', nargs='+')
  parser.add_argument('--starts', type=int, default=100)
  parser.add_argument('--steps', type=int, default=10)
  args = parser.parse_args()
  print('| run | option (eigenfunction) | mean gain of phi_e, option | random walk | range of '
        'phi_e | greedy action optimal, share of visited cells | random action optimal |')
  print('|---|---|---|---|---|---|---|')
  for base_dir in args.runs:
    agent = components.restore_trained(base_dir, 'agent')
    if agent.grid is None:
      sys.exit(f'{base_dir}: the agent has no DCEOAgent.grid_layout, so no grid to walk')
    layout = agent.grid.layout
    environment = gridworld.create_gridworld_environment(
        layout=layout, observation_type=agent.grid.observation_type)
    cells = gridworld.free_cells(layout)
    cell_observations = agent.grid.cell_observations
    phi = agent.representation_values(cell_observations)
    positions, _ = common.newest_coverage(base_dir)
    visited_cells = {tuple(int(value) for value in position) for position in positions}
    visited = np.array([cell in visited_cells for cell in cells])
    rng = np.random.default_rng(0)
    starts = rng.integers(len(cells), size=args.starts)
    for option, eigenfunction in enumerate(agent.option_eigenfunctions):
      phi_e = phi[:, eigenfunction]
      greedy = [walk_gain(environment, cells, cell_observations, phi_e, start, args.steps,
                          lambda observation: agent.option_action(observation, option))
                for start in starts]
      random = [walk_gain(environment, cells, cell_observations, phi_e, start, args.steps,
                          lambda observation: int(rng.integers(environment.action_space.n)))
                for start in starts]
      optimal = laplacian_grid.eigenoption_values(layout, phi_e, agent.gamma, visited)[visited]
      chosen = np.array([agent.option_action(observation, option)
                         for observation in cell_observations[visited]])
      optimal_actions = optimal >= optimal.max(axis=1, keepdims=True) - OPTIMAL_WITHIN
      optimal_share = np.mean(optimal_actions[np.arange(len(chosen)), chosen])
      # A uniformly random action is optimal this often: the floor to read the option's share by.
      random_share = np.mean(optimal_actions.mean(axis=1))
      print(f'| {os.path.basename(base_dir.rstrip("/"))} | {option} ({eigenfunction}) | '
            f'{np.mean(greedy):+.3f} | {np.mean(random):+.3f} | {np.ptp(phi_e):.3f} | '
            f'{optimal_share:.2f} | {random_share:.2f} |')


if __name__ == '__main__':
  main()
