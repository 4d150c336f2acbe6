"""Every shipped gin file builds what it names and runs.

Each experiment config (every .gin file outside shared/ and datasets/) builds the agent class and
the environment it binds and trains one tiny iteration with at least one gradient update and
finite losses. Each dataset config (datasets/) builds its environment and policy and collects a
few steps through `offline.make_dataset`; pendulum_sac.gin from a SAC run trained here first.
Every config's own `import` lines register what it uses, checked in a fresh interpreter, since in
this one other tests have imported everything already.
"""

import glob
import json
import math
import os
import subprocess
import sys
import textwrap
from typing import NamedTuple, Sequence, Tuple

import gin
import pytest

import gin_configs
from agents import dceo
from agents import dqn
from agents import dsm
from agents import gom
from agents import psdrl
from agents import rainbow
from agents import sac
from agents import sfp
from agents.policy_agent import PolicyAgent
from offline.bc.goal_conditioned import GoalConditionedBCLearner
from offline.bc.learner import BCLearner
from offline.dsm.learner import DeltaModelLearner
from offline.gom.learner import GOMLearner
from offline.laplacian.learner import LaplacianLearner
from offline.sfp.learner import SFPPriorLearner
from offline import components
from offline import datasets
from offline import make_dataset
from runner import run_experiment
from runner import train

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def configs_in(*folders: str) -> list:
  """The .gin files under gin_configs/ (relative paths), in `folders` or, with none, outside
  shared/ and datasets/."""
  paths = [os.path.relpath(path, gin_configs.CONFIG_DIR) for path in glob.glob(
      os.path.join(gin_configs.CONFIG_DIR, '**', '*.gin'), recursive=True)]
  top_folder = lambda path: path.split(os.sep)[0]  # noqa: E731
  if folders:
    return sorted(path for path in paths if top_folder(path) in folders)
  return sorted(path for path in paths if top_folder(path) not in ('shared', 'datasets'))


# What each experiment config must build: the agent class and the environment's registered id.
EXPERIMENTS = {
    'dceo/gridworld.gin': (dceo.DCEOAgent, 'GridWorld-v0'),
    'dceo/gridworld_covering.gin': (dceo.DCEOAgent, 'GridWorld-v0'),
    'dceo/montezuma.gin': (dceo.DCEOAgent, 'ALE/MontezumaRevenge-v5'),
    'dqn/acrobot.gin': (dqn.DQNAgent, 'Acrobot-v1'),
    'dqn/atari.gin': (dqn.DQNAgent, 'ALE/Pong-v5'),
    'dqn/cartpole.gin': (dqn.DQNAgent, 'CartPole-v1'),
    'dqn/deep_sea.gin': (dqn.DQNAgent, 'DeepSea-v0'),
    'dqn/classic_control.gin': (dqn.DQNAgent, 'CartPole-v1'),  # the factory's default task
    'dqn/gridworld.gin': (dqn.DQNAgent, 'GridWorld-v0'),
    'dqn/minatar.gin': (dqn.DQNAgent, 'MinAtar-Breakout-v0'),
    'psdrl/atari.gin': (psdrl.PSDRLAgent, 'ALE/Pong-v5'),
    'psdrl/deep_sea.gin': (psdrl.PSDRLAgent, 'DeepSea-v0'),
    'rainbow/atari.gin': (rainbow.RainbowAgent, 'ALE/Pong-v5'),
    'rainbow/deep_sea.gin': (rainbow.RainbowAgent, 'DeepSea-v0'),
    'rainbow/gridworld.gin': (rainbow.RainbowAgent, 'GridWorld-v0'),
    'rainbow/minatar.gin': (rainbow.RainbowAgent, 'MinAtar-Breakout-v0'),
    'sac/mujoco.gin': (sac.SACAgent, 'HalfCheetah-v5'),
    'sac/pendulum.gin': (sac.SACAgent, 'Pendulum-v1'),
    'sac/pointmaze.gin': (sac.SACAgent, 'PointMaze_UMaze-v3'),
}
# What each dataset config must collect with: the policy's class and the environment's name in the
# dataset's metadata (the spec id; Meta-world's tasks have none, so their class).
DATASET_CONFIGS = {
    'datasets/metaworld_reach.gin': ('offline.controllers.MetaWorldReachController',
                                     'SawyerReachEnvV3'),
    'datasets/pendulum_sac.gin': ('offline.collection.AgentPolicy', 'Pendulum-v1'),
    'datasets/pointmaze_large.gin': ('offline.controllers.PointMazeWaypointController',
                                     'PointMaze_Large-v3'),
    'datasets/pointmaze_medium.gin': ('offline.controllers.PointMazeWaypointController',
                                      'PointMaze_Medium-v3'),
    'datasets/pointmaze_umaze.gin': ('offline.controllers.PointMazeWaypointController',
                                     'PointMaze_UMaze-v3'),
    'datasets/sfp_room.gin': ('offline.controllers.SFPRoomGoalController', 'SFPMaze-v0'),
    'datasets/gridworld_random_walk.gin': ('offline.controllers.UniformRandomPolicy',
                                           'GridWorld-v0'),
    'datasets/windy_gridworld.gin': ('offline.controllers.UniformRandomPolicy',
                                     'WindyGridWorld-v0'),
}
# Dataset configs whose source is an agent, and the experiment config that trains it.
TRAINED_SOURCES = {'datasets/pendulum_sac.gin': 'sac/pendulum.gin'}
# Offline configs (the 'offline' schedule): the learner class and the dataset config of its data.
OFFLINE_CONFIGS = {**{f'bc/pointmaze_{maze}.gin': (GoalConditionedBCLearner,
                                                   f'datasets/pointmaze_{maze}.gin')
                      for maze in ('umaze', 'medium', 'large')},
                   'dceo/laplacian_gridworld.gin': (LaplacianLearner,
                                                    'datasets/gridworld_random_walk.gin'),
                   'sfp/prior_room.gin': (SFPPriorLearner, 'datasets/sfp_room.gin'),
                   'sfp/prior_metaworld_reach.gin': (SFPPriorLearner,
                                                     'datasets/metaworld_reach.gin'),
                   'dsm/pendulum.gin': (DeltaModelLearner, 'datasets/pendulum_sac.gin'),
                   'dsm/windy_gridworld.gin': (DeltaModelLearner,
                                               'datasets/windy_gridworld.gin'),
                   **{f'gom/pointmaze_{maze}.gin': (GOMLearner,
                                                    f'datasets/pointmaze_{maze.split("_")[0]}.gin')
                      for maze in ('umaze', 'medium', 'large', 'umaze_small')}}
# Experiment configs whose agent loads an offline component: the agent class, the environment (its
# spec id, or its class for Meta-world's tasks, which have none) and the offline config that trains
# the component.
COMPONENT_EXPERIMENTS = {
    **{f'sfp/{layout}.gin': (sfp.SFPAgent, 'SFPMaze-v0', 'sfp/prior_room.gin')
       for layout in ('room', 'corridor', 'maze')},
    **{f'sfp/metaworld_{task}.gin': (sfp.SFPAgent, environment, 'sfp/prior_metaworld_reach.gin')
       for task, environment in (('reach', 'SawyerReachEnvV3'),
                                 ('window_open', 'SawyerWindowOpenEnvV3'),
                                 ('door_open', 'SawyerDoorEnvV3'),
                                 ('drawer_open', 'SawyerDrawerOpenEnvV3'))},
}
# Eval-schedule configs: the agent class, the environment they evaluate on and the offline config of
# the component.
EVAL_CONFIGS = {
    **{f'bc/eval_pointmaze_{maze}.gin': (PolicyAgent, f'PointMaze_{name}-v3',
                                         f'bc/pointmaze_{maze}.gin')
       for maze, name in (('umaze', 'UMaze'), ('medium', 'Medium'), ('large', 'Large'))},
    'dsm/eval_pendulum.gin': (dsm.DSMAgent, 'Pendulum-v1', 'dsm/pendulum.gin'),
    **{f'gom/eval_pointmaze_{maze}.gin': (gom.GOMAgent, f'PointMaze_{name}-v3',
                                          f'gom/pointmaze_{maze}.gin')
       for maze, name in (('umaze', 'UMaze'), ('medium', 'Medium'), ('large', 'Large'))},
}
TINY_OFFLINE = ['Runner.num_iterations = 1', 'OfflineRunner.training_steps = 100',
                'OfflineRunner.steps_per_progress_update = 50', 'Runner.progress_bar = False']

# One iteration of 60 training steps (whole episodes of at most 50) and 20 evaluation steps.
TINY_RUN = ['Runner.num_iterations = 1', 'Runner.training_steps = 60',
            'Runner.evaluation_steps = 20', 'Runner.max_steps_per_episode = 50',
            'Runner.progress_bar = False']


class AgentFamily(NamedTuple):
  bindings: Sequence[str]  # to make it tiny: a warm-up below TINY_RUN's steps, a small replay
  losses: Tuple[str, ...]  # the metrics.jsonl entries that must be finite


FAMILIES = {
    # Before DQN's, which it extends: family_of takes the first base class that matches.
    dceo.DCEOAgent: AgentFamily(['DQNAgent.min_replay_history = 20',
                                 'DQNAgent.replay_capacity = 1000', 'DQNAgent.batch_size = 4',
                                 'MLPTorso.hidden_sizes = (8,)',
                                 'DCEOAgent.representation_dimension = 4',
                                 'DCEOAgent.num_options = 2',
                                 'DCEOAgent.representation_batch_size = 4',
                                 'RepresentationNetwork.hidden_size = 8'],
                                ('agent/loss', 'agent/representation_loss', 'agent/option_loss')),
    # The replay is the point for Atari: its configs' 1M steps would allocate 7 GB.
    dqn.DQNAgent: AgentFamily(['DQNAgent.min_replay_history = 20',
                               'DQNAgent.replay_capacity = 1000', 'DQNAgent.batch_size = 4',
                               'MLP.hidden_sizes = (8,)'], ('agent/loss',)),
    # An update every 10 steps once the first episode has ended (DeepSea's 10 steps, or Pong's
    # first 50, cut by TINY_RUN), on 2 sequences of 8 steps, with tiny networks.
    psdrl.PSDRLAgent: AgentFamily(['PSDRLAgent.update_period = 10',
                                   'PSDRLAgent.late_update_period = 10',
                                   'PSDRLAgent.replay_capacity = 1000',
                                   'PSDRLAgent.batch_size = 2', 'PSDRLAgent.sequence_length = 8',
                                   'PSDRLAgent.posterior_chunk_size = 64',
                                   'ConvAutoencoder.channels = (4, 4, 4, 4)',
                                   'MLPAutoencoder.hidden_sizes = (8,)',
                                   'MLPAutoencoder.latent_size = 4',
                                   'TransitionModel.hidden_size = 8',
                                   'TransitionModel.mlp_sizes = (8, 8)',
                                   'TerminalNetwork.hidden_sizes = (8,)',
                                   'ValueNetwork.hidden_sizes = (8,)'],
                                  ('agent/autoencoder_loss', 'agent/transition_loss',
                                   'agent/terminal_loss', 'agent/value_loss')),
    # Before SAC's, which it extends: an update call of 2 updates every 5 steps.
    sfp.SFPAgent: AgentFamily(['SACAgent.min_replay_history = 20',
                               'SACAgent.replay_capacity = 1000', 'SACAgent.batch_size = 4',
                               'SACAgent.update_period = 5', 'SACAgent.updates_per_step = 2',
                               'TanhGaussianActor.hidden_sizes = (8,)',
                               'EnsembleQNetwork.hidden_sizes = (8,)',
                               'SFPAgent.lambda_hidden_sizes = (8,)'],
                              ('agent/critic_loss', 'agent/actor_loss', 'agent/lambda')),
    sac.SACAgent: AgentFamily(['SACAgent.min_replay_history = 20',
                               'SACAgent.replay_capacity = 1000', 'SACAgent.batch_size = 4',
                               'TanhGaussianActor.hidden_sizes = (8,)',
                               'EnsembleQNetwork.hidden_sizes = (8,)'],
                              ('agent/critic_loss', 'agent/actor_loss')),
}


# Configs whose own settings their family's tiny bindings contradict, restored on top of them:
# gridworld_covering.gin's ten options follow eigenfunctions 1-5, more than the tiny d = 4 holds.
CONFIG_BINDINGS = {'dceo/gridworld_covering.gin': ['DCEOAgent.representation_dimension = 8',
                                                   'DCEOAgent.num_options = 10']}


def family_of(agent_class) -> AgentFamily:
  return next(family for base, family in FAMILIES.items() if issubclass(agent_class, base))


class LearnerFamily(NamedTuple):
  bindings: Sequence[str]  # with TINY_OFFLINE, to make it tiny: small batches and networks
  statistics: Tuple[str, ...]  # the metrics.jsonl entries that must be finite


LEARNER_FAMILIES = {
    BCLearner: LearnerFamily(['BCLearner.steps_per_call = 50', 'BCLearner.batch_size = 16',
                              'BCLearner.hidden_sizes = (8,)',
                              'BCLearner.validation_fraction = 0.5'],
                             ('train/nll', 'eval/validation_nll')),
    LaplacianLearner: LearnerFamily(['LaplacianLearner.steps_per_call = 50',
                                     'LaplacianLearner.batch_size = 16',
                                     'LaplacianLearner.hidden_sizes = (8,)'],
                                    ('train/loss', 'eval/subspace_overlap')),
    SFPPriorLearner: LearnerFamily(['SFPPriorLearner.steps_per_call = 50',
                                    'SFPPriorLearner.batch_size = 16',
                                    'SFPPriorLearner.num_blocks = 2',
                                    'SFPPriorLearner.hidden_size = 8',
                                    'SFPPriorLearner.condition_sizes = (8,)',
                                    'SFPPriorLearner.validation_fraction = 0.5'],
                                   ('train/nll', 'eval/validation_nll')),
    # Monte Carlo references of 2 rollouts of 5 steps from each source.
    DeltaModelLearner: LearnerFamily(['DeltaModelLearner.steps_per_call = 50',
                                      'DeltaModelLearner.batch_size = 4',
                                      'DeltaModelLearner.num_atoms = 3',
                                      'DeltaModelLearner.num_samples = 4',
                                      'DeltaModelLearner.generator_hidden_sizes = (8,)',
                                      'Discriminator.hidden_size = 8',
                                      'ReturnDistributionEvaluation.num_rollouts = 2',
                                      'ReturnDistributionEvaluation.rollout_steps = 5',
                                      'ReturnDistributionEvaluation.num_model_samples = 8',
                                      'ReturnDistributionEvaluation.progress_bar = False'],
                                     ('train/mmd', 'train/discriminator_mmd')),
    GOMLearner: LearnerFamily(['GOMLearner.steps_per_call = 50', 'GOMLearner.batch_size = 16',
                               'GOMLearner.num_features = 2', 'GOMLearner.outcome_dims = (8,)',
                               'GOMLearner.policy_dims = (8,)', 'GOMLearner.blocks_per_level = 1',
                               'GOMLearner.time_embedding_dim = 8',
                               'GOMLearner.diffusion_steps = 25', 'GOMLearner.sampling_steps = 2',
                               'GOMLearner.warmup_steps = 10', 'GOMLearner.decay_steps = 200',
                               'GOMLearner.validation_fraction = 0.5'],
                              ('train/outcome_loss', 'train/policy_loss',
                               'eval/validation_outcome_loss', 'eval/constant_cumulant_error')),
}


def learner_family_of(learner_class) -> LearnerFamily:
  return next(family for base, family in LEARNER_FAMILIES.items()
              if issubclass(learner_class, base))


@pytest.fixture(autouse=True)
def clear_gin():
  gin.clear_config()
  yield
  gin.clear_config()


def test_every_config_folder_is_a_package_so_includes_resolve_anywhere():
  for folder, _, files in os.walk(gin_configs.CONFIG_DIR):
    if any(name.endswith('.gin') for name in files):
      assert os.path.exists(os.path.join(folder, '__init__.py')), folder


def test_every_shipped_config_is_checked_here():
  assert configs_in() == sorted({**EXPERIMENTS, **OFFLINE_CONFIGS, **EVAL_CONFIGS,
                                 **COMPONENT_EXPERIMENTS})
  assert configs_in('datasets') == sorted(DATASET_CONFIGS)


def test_every_config_imports_the_modules_it_uses():
  # Each config is parsed in a child forked from one fresh interpreter that has imported the
  # libraries but no module of the zoo, so each starts from what its command imports (the driver:
  # runner.train, or offline.make_dataset for datasets/) plus its own `import` lines.
  script = textwrap.dedent('''
      import os, sys
      import flax.linen, gin, gymnasium, jax, optax  # the slow imports, shared by the children
      for config in sys.argv[1:]:
        child = os.fork()
        if child == 0:
          try:
            if config.startswith('datasets'):
              from offline import make_dataset
            from runner import train
            train.parse_gin([config], [])
          except Exception as error:
            print(f'{config}: {type(error).__name__}: {error}', flush=True)
            os._exit(1)
          os._exit(0)
        os.waitpid(child, 0)
      ''')
  result = subprocess.run([sys.executable, '-c', script, *configs_in(), *configs_in('datasets')],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr
  assert result.stdout == '', result.stdout


@pytest.mark.parametrize('config', sorted(EXPERIMENTS))
def test_experiment_config_trains_one_tiny_iteration(config, tmp_path):
  agent_class, environment_id = EXPERIMENTS[config]
  family = family_of(agent_class)
  train.parse_gin([config], TINY_RUN + list(family.bindings) + CONFIG_BINDINGS.get(config, []))
  runner = run_experiment.create_runner(str(tmp_path))
  assert type(runner.agent) is agent_class  # pylint: disable=unidiomatic-typecheck
  assert runner.environment.spec.id == environment_id
  runner.run_experiment()
  records = [json.loads(line) for line in (tmp_path / 'metrics.jsonl').read_text().splitlines()]
  assert [record['iteration'] for record in records] == [0]
  assert records[0]['agent/updates'] >= 1
  for name in family.losses:
    assert math.isfinite(records[0][name]), (name, records[0])


@pytest.fixture(scope='module')
def trained_run_dirs(tmp_path_factory):
  """The run directory of a tiny run of each experiment config in TRAINED_SOURCES, trained once
  for the module."""
  run_dirs = {}
  for config in sorted(set(TRAINED_SOURCES.values())):
    gin.clear_config()
    run_dir = tmp_path_factory.mktemp(config.replace(os.sep, '_'))
    train.run(str(run_dir), [config], TINY_RUN + list(family_of(EXPERIMENTS[config][0]).bindings))
    run_dirs[config] = run_dir
  gin.clear_config()
  return run_dirs


@pytest.mark.parametrize('config', sorted(DATASET_CONFIGS))
def test_dataset_config_collects_a_few_steps(config, tmp_path, request):
  source, environment = DATASET_CONFIGS[config]
  bindings = [f"collect.output_dir = '{tmp_path / 'data'}'", 'collect.num_episodes = None',
              'collect.num_steps = 60', 'collect.progress_bar = False']
  if config in TRAINED_SOURCES:
    # The agent is rebuilt from its run directory alone: the run's tiny networks need no binding.
    run_dir = request.getfixturevalue('trained_run_dirs')[TRAINED_SOURCES[config]]
    bindings.append(f"AgentPolicy.run_dir = '{run_dir}'")
  summary = make_dataset.make_dataset([config], bindings)
  dataset = datasets.load_dataset(str(tmp_path / 'data'))
  assert summary['steps'] == dataset.num_steps == 60
  assert dataset.metadata['source'] == source
  assert dataset.metadata['environment'] == environment
  assert 'collect.policy' in dataset.metadata['gin_config']


def test_atari_configs_carry_dopamines_published_hyperparameters():
  expected = {
      'dqn/atari.gin': {('DQNAgent', 'update_horizon'): 1, ('DQNAgent', 'replay_scheme'): 'uniform',
                        ('DQNAgent', 'loss_type'): 'huber'},
      'rainbow/atari.gin': {('DQNAgent', 'update_horizon'): 3, ('RainbowAgent', 'num_atoms'): 51,
                            ('RainbowAgent', 'vmax'): 10.0, ('RainbowAgent', 'noisy'): True,
                            ('RainbowAgent', 'dueling'): True, ('RainbowAgent', 'double_dqn'): True,
                            ('RainbowAgent', 'replay_scheme'): 'prioritized'},
  }
  shared = {('DQNAgent', 'gamma'): 0.99, ('DQNAgent', 'min_replay_history'): 20000,
            ('DQNAgent', 'update_period'): 4, ('DQNAgent', 'target_update_period'): 8000,
            ('DQNAgent', 'epsilon_train'): 0.01, ('DQNAgent', 'epsilon_eval'): 0.001,
            ('DQNAgent', 'epsilon_decay_period'): 250000, ('DQNAgent', 'batch_size'): 32,
            ('DQNAgent', 'replay_capacity'): 1000000, ('DQNAgent', 'stack_size'): 4,
            ('create_optimizer', 'learning_rate'): 6.25e-5, ('create_optimizer', 'eps'): 1.5e-4,
            ('create_atari_environment', 'sticky_action_probability'): 0.25,
            ('create_atari_environment', 'max_episode_steps'): 27000,
            ('Runner', 'training_steps'): 250000, ('Runner', 'max_steps_per_episode'): 27000}
  for config, values in expected.items():
    gin.clear_config()
    train.parse_gin([config], [])
    for (configurable, parameter), value in {**shared, **values}.items():
      bound = gin.query_parameter(f'{configurable}.{parameter}')
      if isinstance(bound, gin.config.ConfigurableReference):  # a macro such as %STACK_SIZE
        bound = gin.query_parameter(f'%{bound.scoped_selector.split("/")[0]}')
      assert bound == value, (config, parameter)


@pytest.fixture(scope='module')
def offline_runs(tmp_path_factory, request):
  """For each offline config: a tiny dataset collected with its dataset config (two episodes of the
  maze's own length; from a tiny trained agent where the data comes from one), and one tiny
  iteration trained on it."""
  run_dirs = {}
  for config, (learner_class, dataset_config) in sorted(OFFLINE_CONFIGS.items()):
    root = tmp_path_factory.mktemp(os.path.basename(config).removesuffix('.gin'))
    source = []
    if dataset_config in TRAINED_SOURCES:
      agent_run = request.getfixturevalue('trained_run_dirs')[TRAINED_SOURCES[dataset_config]]
      source = [f"AgentPolicy.run_dir = '{agent_run}'"]
    gin.clear_config()
    make_dataset.make_dataset([dataset_config], [
        f"collect.output_dir = '{root / 'data'}'", 'collect.num_steps = None',
        'collect.num_episodes = 2', 'collect.progress_bar = False', *source])
    gin.clear_config()
    train.run(str(root / 'run'), [config],
              TINY_OFFLINE + list(learner_family_of(learner_class).bindings)
              + [f"load_dataset.path = '{root / 'data'}'", *source])
    run_dirs[config] = root / 'run'
  gin.clear_config()
  return run_dirs


@pytest.mark.parametrize('config', sorted(OFFLINE_CONFIGS))
def test_offline_config_trains_its_learner_on_its_dataset(config, offline_runs):
  run_dir = offline_runs[config]
  description = json.loads((run_dir / 'run.json').read_text())
  learner_class = OFFLINE_CONFIGS[config][0]
  assert description['class'] == f'{learner_class.__module__}.{learner_class.__qualname__}'
  assert description['schedule'] == 'offline'
  records = [json.loads(line) for line in (run_dir / 'metrics.jsonl').read_text().splitlines()]
  assert records[0]['train/gradient_steps'] == 100
  for name in learner_family_of(learner_class).statistics:
    assert math.isfinite(records[0][name]), (name, records[0])


@pytest.mark.parametrize('config', sorted(COMPONENT_EXPERIMENTS))
def test_experiment_config_trains_one_tiny_iteration_with_the_component_it_loads(
    config, offline_runs, tmp_path):
  agent_class, environment, offline_config = COMPONENT_EXPERIMENTS[config]
  family = family_of(agent_class)
  train.parse_gin([config], TINY_RUN + list(family.bindings) + [
      f"load_component.base_dir = '{offline_runs[offline_config]}'"])
  runner = run_experiment.create_runner(str(tmp_path))
  assert type(runner.agent) is agent_class  # pylint: disable=unidiomatic-typecheck
  spec = runner.environment.spec
  assert (spec.id if spec is not None else type(runner.environment.unwrapped).__name__) == (
      environment)
  runner.run_experiment()
  records = [json.loads(line) for line in (tmp_path / 'metrics.jsonl').read_text().splitlines()]
  assert records[0]['agent/updates'] >= 1
  for name in family.losses:
    assert math.isfinite(records[0][name]), (name, records[0])


@pytest.mark.parametrize('config', sorted(EVAL_CONFIGS))
def test_eval_config_evaluates_the_component_it_loads(config, offline_runs, tmp_path):
  agent_class, environment_id, offline_config = EVAL_CONFIGS[config]
  # DSM: episodes of 15 steps, so that the 30 steps end two and log their predictions.
  small = (['Runner.max_steps_per_episode = 15', 'DSMAgent.num_samples = 8']
           if agent_class is dsm.DSMAgent else [])
  if agent_class is gom.GOMAgent:  # its own run's tiny data, relabelled
    small = [f"load_dataset.path = '{offline_runs[offline_config].parent / 'data'}'",
             'GOMAgent.num_samples = 4', 'GOMAgent.regression_transitions = 100']
  train.parse_gin([config], ['Runner.evaluation_steps = 30', 'Runner.progress_bar = False',
                             f"load_component.base_dir = '{offline_runs[offline_config]}'",
                             *small])
  runner = run_experiment.create_runner(str(tmp_path))
  assert isinstance(runner, run_experiment.EvalRunner) and isinstance(runner.agent, agent_class)
  assert runner.environment.spec.id == environment_id
  runner.run_experiment()
  record = json.loads((tmp_path / 'metrics.jsonl').read_text())
  assert record['eval/steps'] >= 30 and math.isfinite(record['eval/average_return'])
  if agent_class is PolicyAgent:
    assert 0 <= record['eval/success_rate'] <= 1
  elif agent_class is gom.GOMAgent:
    assert 0 <= record['eval/success_rate'] <= 1
    assert math.isfinite(record['agent/reward_fit_rmse']) and math.isfinite(
        record['agent/planned_value']), record
    assert (tmp_path / 'trajectories.png').exists()
  else:
    assert math.isfinite(record['agent/pendulum_upright/realised_quantile']), record
  assert not any(key.startswith('train/') for key in record)


@pytest.mark.parametrize('config,environment_id', [('dsm/pendulum.gin', 'Pendulum-v1'),
                                                   ('dsm/windy_gridworld.gin', 'WindyGridWorld-v0')])
def test_a_loaded_delta_models_evaluation_keeps_its_own_environment(config, environment_id,
                                                                    offline_runs):
  # Rebuilt from its run directory, the learner's evaluation is called after the run's config is
  # gone: its environment factory must still have the run's bindings (not HalfCheetah, say).
  learner = components.restore_trained(str(offline_runs[config]), 'learner')
  gin.clear_config()
  env = learner.evaluation.make_environment()
  assert env.spec.id == environment_id
  env.close()
  statistics, _ = learner.evaluation.evaluate(learner.export(), str(offline_runs[config]))
  assert all(math.isfinite(value) for value in statistics.values())
