"""Synthetic run directories for the report's tests: config.gin and metrics.jsonl written by hand,
as runner.train writes them."""

import json
import os

from runner.report import runs

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def config_text(agent='DQNAgent', game='Pong', seed=0, training_steps=250000, extra=''):
  """An operative config as gin writes it: sections, macros, references, multi-line values."""
  agent_section = ('# Parameters for RainbowAgent:\n'
                   '# ' + '=' * 78 + '\n'
                   'RainbowAgent.num_atoms = 51\n\n') if agent == 'RainbowAgent' else ''
  return (
      '# Macros:\n'
      '# ' + '=' * 78 + '\n'
      'STACK_SIZE = 4\n\n'
      '# Parameters for create_agent:\n'
      '# ' + '=' * 78 + '\n'
      f'create_agent.agent_class = @{agent}\n\n'
      '# Parameters for create_atari_environment:\n'
      '# ' + '=' * 78 + '\n'
      f"create_atari_environment.game_name = '{game}'\n"
      'create_atari_environment.stack_size = %STACK_SIZE\n\n'
      '# Parameters for create_environment:\n'
      '# ' + '=' * 78 + '\n'
      'create_environment.fn = @create_atari_environment\n\n'
      '# Parameters for DQNAgent:\n'
      '# ' + '=' * 78 + '\n'
      'DQNAgent.gamma = 0.99\n'
      'DQNAgent.optimizer = @create_optimizer()\n'
      'DQNAgent.hidden_sizes = \\\n'
      '    (512,\n'
      '     512)\n\n'
      + agent_section +
      '# Parameters for Runner:\n'
      '# ' + '=' * 78 + '\n'
      f'Runner.seed = {seed}\n'
      f'Runner.training_steps = {training_steps}\n'
      + extra)


def write_run(directory, config, values, metric='train/average_return', extra_metrics=None):
  """A run directory with one metrics.jsonl record per value (iterations 0, 1, ...)."""
  os.makedirs(os.path.join(directory, 'checkpoints', 'ckpt_0'), exist_ok=True)
  with open(os.path.join(directory, 'config.gin'), 'w') as file:
    file.write(config)
  with open(os.path.join(directory, 'metrics.jsonl'), 'w') as file:
    for iteration, value in enumerate(values):
      record = {'iteration': iteration, metric: value, 'train/num_episodes': 3.0,
                **(extra_metrics or {})}
      file.write(json.dumps(record, sort_keys=True) + '\n')


# Final-iteration returns per (agent, game), one per seed 0, 1, 2; earlier iterations are lower.


FINAL = {('DQNAgent', 'Pong'): [1.0, 2.0, 6.0],
         ('DQNAgent', 'Breakout'): [10.0, 10.0, 10.0],
         ('RainbowAgent', 'Pong'): [4.0, 5.0, 9.0],
         ('RainbowAgent', 'Breakout'): [20.0, 30.0, 40.0]}


def make_sweep(root):
  """2 agents x 2 games x 3 seeds, Atari style (training returns only), 3 iterations each."""
  for (agent, game), finals in FINAL.items():
    for seed, final in enumerate(finals):
      write_run(os.path.join(root, f'agent_class={agent},game_name={game},seed={seed}'),
                config_text(agent, game, seed), [final - 2, final - 1, final])
  return str(root)


def make_baselines(root):
  """A tiny Dopamine-style pong.json: DQN with two seeds over three iterations."""
  os.makedirs(root, exist_ok=True)
  records = [{'Iteration': iteration, 'Value': value, 'Agent': 'DQN'}
             for iteration, values in enumerate([[-20.0, -18.0], [-10.0, -12.0], [0.0, 2.0]])
             for value in values]
  records.append({'Iteration': 0, 'Value': 5.0, 'Agent': 'C51'})
  with open(os.path.join(root, 'pong.json'), 'w') as file:
    json.dump(records, file)
  return str(root)


def read(path):
  """A file's text."""
  with open(path) as file:
    return file.read()


def load_runs(sweep_dir):
  """Every run under sweep_dir."""
  return [runs.load_run(sweep_dir, directory)
          for directory in runs.find_run_directories(sweep_dir)]


def table_row(markdown, group_name):
  """The cells of the summary table's row of a group."""
  (row,) = [line for line in markdown.splitlines() if line.startswith(f'| `{group_name}`')]
  return [cell.strip() for cell in row.strip('|').split(' | ')]
