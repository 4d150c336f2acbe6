"""The Agent base class's summaries: RecentValues' bounded memory and write_summaries' histograms,
read back from the event files as TensorBoard reads them."""

import jax.numpy as jnp
import numpy as np
import tensorboardX
from tensorboard.backend.event_processing import event_accumulator

from agents import base
from tests.fakes import SpyAgent, ScriptedEnv


def read_histograms(log_dir):
  """{tag: [(step, HistogramValue), ...]} from the event files in log_dir."""
  # The accumulator keeps one histogram event per tag unless told to keep all (0).
  accumulator = event_accumulator.EventAccumulator(str(log_dir),
                                                   size_guidance={event_accumulator.HISTOGRAMS: 0})
  accumulator.Reload()
  return {tag: [(event.step, event.histogram_value) for event in accumulator.Histograms(tag)]
          for tag in accumulator.Tags()['histograms']}


def test_recent_values_concatenate_in_order_and_keep_only_the_newest():
  values = base.RecentValues(max_values=6)
  values.append({'a': jnp.array([1.0, 2.0]), 'b': jnp.array([[1.0], [1.0]])})
  values.append({'a': jnp.array([3.0, 4.0]), 'b': np.array([2.0, 2.0])})
  fetched = values.fetch_and_clear()
  np.testing.assert_array_equal(fetched['a'], [1, 2, 3, 4])
  np.testing.assert_array_equal(fetched['b'], [1, 1, 2, 2])
  assert values.fetch_and_clear() == {}
  for start in range(0, 10, 2):  # five entries of two: the oldest go once more than 6 are kept
    values.append({'a': jnp.array([start, start + 1.0])})
  np.testing.assert_array_equal(values.fetch_and_clear()['a'], [4, 5, 6, 7, 8, 9])


class HistogramAgent(SpyAgent):
  """An agent whose histograms a test sets."""

  def __init__(self, *args, **kwargs):
    super().__init__(*args, **kwargs)
    self.pending = {}

  def iteration_histograms(self):
    pending, self.pending = self.pending, {}
    return pending


def test_write_summaries_writes_each_histogram_at_the_iteration(tmp_path):
  env = ScriptedEnv()
  writer = tensorboardX.SummaryWriter(logdir=str(tmp_path))
  agent = HistogramAgent(env.observation_space, env.action_space, summary_writer=writer)
  agent.pending = {'agent/q_values': np.array([1.0, 2.0, 4.0]), 'agent/empty': np.zeros(0)}
  agent.write_summaries(3)
  agent.pending = {'agent/q_values': np.array([-1.0])}
  agent.write_summaries(4)
  writer.close()
  histograms = read_histograms(tmp_path)
  assert list(histograms) == ['agent/q_values']  # nothing written for an empty array
  (step_3, first), (step_4, second) = histograms['agent/q_values']
  assert (step_3, first.num, first.min, first.max, first.sum) == (3, 3, 1.0, 4.0, 7.0)
  assert (step_4, second.num, second.min, second.max) == (4, 1, -1.0, -1.0)


def test_without_a_writer_the_histograms_are_still_consumed():
  env = ScriptedEnv()
  agent = HistogramAgent(env.observation_space, env.action_space)
  agent.pending = {'agent/q_values': np.array([1.0])}
  agent.write_summaries(0)
  assert agent.pending == {}
