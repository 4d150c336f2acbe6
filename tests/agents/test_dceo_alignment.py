"""DCEO's options held to functions of its representation phi (agents/dceo.py,
`option_alignment`): the Procrustes fit that undoes a turn of phi, and the Rayleigh-Ritz fit that
turns phi into its span's smoothest functions whatever its mixing, each column matched to the
function it followed at the last fit."""

import functools

import jax
import numpy as np
import pytest

from agents import eigenoptions
from runner import errors
from tests.agents.dceo_testing import update_once, update_without, make_agent, grid
from tests.agents.dceo_testing import table_representation
from tests.fakes import run_episodes, save_and_load


def test_procrustes_alignment_undoes_a_turn_of_phi_for_the_options(tmp_path):
  env = grid()
  settings = dict(representation_network=table_representation(), alignment_states=16)
  agent = make_agent(env, option_alignment='procrustes', alignment_period=10 ** 6, **settings)
  run_episodes(agent, env, 3, seed=0)  # no fit yet: the first comes after `alignment_period`
  assert int(agent.state.extensions['alignment_fits']) == 0
  agent._align_options()  # the first fit keeps R = I and records its states' values
  extensions = agent.state.extensions
  assert int(extensions['alignment_fits']) == 1
  np.testing.assert_array_equal(extensions['option_rotation'], np.eye(4))
  unturned = extensions['representation']
  # Turn phi by a known orthogonal Q (phi(s) = W[s] + b: both times Q); the next fit finds Q^T.
  turn, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((4, 4)))
  turned = jax.tree.map(lambda leaf: leaf @ turn, unturned)
  agent.state = agent.state._replace(extensions={**extensions, 'representation': turned})
  agent._align_options()
  np.testing.assert_allclose(agent.state.extensions['option_rotation'], turn.T, atol=1e-5)
  np.testing.assert_allclose(agent.state.extensions['alignment_values'],
                             agent.representation_values(agent.state.extensions['alignment_anchor'],
                                                         unturned), atol=1e-5)
  # So the options learn from the turned phi as from the unturned one without alignment.
  batch = agent.replay.sample(agent.batch_size, np.random.default_rng(7))
  batch.pop('indices')
  key = jax.random.PRNGKey(3)
  agent._rng = np.random.default_rng(11)
  aligned, _ = update_once(agent, batch, key)
  expected = update_without(agent, env, settings, batch, key, ('option_rotation', 'alignment'),
                            representation=unturned)
  jax.tree.map(functools.partial(np.testing.assert_allclose, rtol=1e-4, atol=1e-5),
               aligned['option'], expected['option'])

  # R and the fit's states go into the checkpoint with the train state.
  directory, bundle = save_and_load(agent, tmp_path)
  restored = make_agent(env, option_alignment='procrustes', seed=1, **settings)
  assert restored.unbundle(directory, 0, bundle)
  for name in ('option_rotation', 'alignment_anchor', 'alignment_values', 'alignment_fits'):
    np.testing.assert_array_equal(restored.state.extensions[name], agent.state.extensions[name])
  with pytest.raises(errors.InvalidSettingError, match='option_alignment'):
    make_agent(env, option_alignment='polar')
  with pytest.raises(errors.InvalidSettingError, match='alignment_states'):
    make_agent(env, option_alignment='procrustes', alignment_states=2)


@pytest.mark.parametrize('state_weighting', ['replay', 'uniform_visited'])
def test_ritz_alignment_turns_phi_into_its_spans_smoothest_functions_whatever_its_mixing(
    state_weighting):
  env = grid()
  agent = make_agent(env, option_alignment='ritz', alignment_period=10 ** 6, alignment_states=64,
                     state_weighting=state_weighting,
                     representation_network=table_representation())
  run_episodes(agent, env, 3, seed=0)
  agent._rng = np.random.default_rng(5)
  agent._align_options()
  # R comes from phi's pairs drawn as its objective draws them (the same draws, replayed here).
  agent._rng = np.random.default_rng(5)
  states, later = agent.representation_pairs(agent.representation_batch(64))
  first = agent.state.extensions
  np.testing.assert_allclose(first['option_rotation'], eigenoptions.ritz_turn(
      agent.representation_values(states), agent.representation_values(later)), rtol=1e-5,
                             atol=1e-5)
  # Mix phi by an invertible, non-orthogonal M: on the same pairs the next fit finds M^-1 R, its
  # columns in the same order and with the same signs, so the options follow the same functions.
  mixing = np.random.default_rng(0).standard_normal((4, 4)) + 2 * np.eye(4)
  mixed = jax.tree.map(lambda leaf: leaf @ mixing, first['representation'])
  agent.state = agent.state._replace(extensions={**first, 'representation': mixed})
  agent._rng = np.random.default_rng(5)
  agent._align_options()
  np.testing.assert_allclose(agent.state.extensions['option_rotation'],
                             np.linalg.solve(mixing, first['option_rotation']), rtol=1e-3,
                             atol=1e-3)
  np.testing.assert_allclose(agent.state.extensions['alignment_values'],
                             first['alignment_values'], rtol=1e-3, atol=1e-3)
