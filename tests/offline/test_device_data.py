"""DeviceDataset (whole on the device, or streamed in chunks) and ScannedTrainer (K steps per
jitted call, the same state however the steps are split into calls)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from offline import device_data
from runner import errors


def counting_update(state, batch, key):
  """Counts how often each row is drawn, and mixes the key into a running value, so that two runs
  agree only if they drew the same rows with the same keys in the same order."""
  del key
  counts = state['counts'].at[batch['row']].add(1)
  mix = state['mix'] * 1.0001 + jnp.sum(batch['value'])
  return {'counts': counts, 'mix': mix}, {'mean_value': jnp.mean(batch['value'])}


def rows_dataset(num_rows, **settings):
  arrays = {'row': np.arange(num_rows, dtype=np.int32),
            'value': np.linspace(0, 1, num_rows, dtype=np.float32)}
  return device_data.DeviceDataset(arrays, **settings)


def initial_state(num_rows):
  return {'counts': jnp.zeros(num_rows, jnp.int32), 'mix': jnp.float32(0)}


def test_chunk_boundaries_are_equal_without_split_points():
  np.testing.assert_array_equal(device_data.chunk_boundaries(10, 4), [0, 3, 6, 10])
  np.testing.assert_array_equal(device_data.chunk_boundaries(8, 8), [0, 8])


def test_chunk_boundaries_move_down_to_split_points():
  # Episodes start at 0, 5, 7, 12: targets 5 and 10 (three chunks of 15 rows) become 5 and 7.
  np.testing.assert_array_equal(device_data.chunk_boundaries(15, 5, np.array([0, 5, 7, 12])),
                                [0, 5, 7, 15])
  # One long episode: a single chunk, longer than chunk_rows.
  np.testing.assert_array_equal(device_data.chunk_boundaries(15, 5, np.array([0])), [0, 15])


def test_small_dataset_is_put_on_the_device_whole():
  dataset = rows_dataset(100)
  assert not dataset.streamed and dataset.num_chunks == 1
  data, num_rows = dataset.chunk(0)
  assert num_rows == 100 and isinstance(data['row'], jax.Array)
  np.testing.assert_array_equal(data['row'], np.arange(100))


def test_dataset_over_max_device_bytes_is_streamed_in_padded_chunks():
  dataset = rows_dataset(100, max_device_bytes=400, chunk_rows=30)  # 800 bytes of data
  assert dataset.streamed and dataset.num_chunks == 4 and dataset.capacity == 25
  seen = []
  for index in range(dataset.num_chunks):
    data, num_rows = dataset.chunk(index)
    assert data['row'].shape == (25,)
    seen.extend(np.asarray(data['row'][:num_rows]))
  np.testing.assert_array_equal(seen, np.arange(100))
  # chunk_rows unset: two chunks (the current and the prefetched one) fit max_device_bytes.
  assert rows_dataset(100, max_device_bytes=400).capacity == 25


def test_bad_arrays_are_bad_input():
  with pytest.raises(errors.BadInputError, match='as many rows'):
    device_data.DeviceDataset({'a': np.zeros(3), 'b': np.zeros(4)})
  with pytest.raises(errors.BadInputError, match='no rows'):
    device_data.DeviceDataset({'a': np.zeros(0)})
  with pytest.raises(errors.BadInputError, match='steps_per_call'):
    device_data.ScannedTrainer(counting_update, batch_size=4, steps_per_call=0)


def test_rows_are_drawn_uniformly():
  # 64 rows, 200 steps of 64: 12,800 draws, 200 expected per row. With a fixed key the counts
  # are fixed; chi-square with 63 degrees of freedom is below 100 with probability 0.997.
  trainer = device_data.ScannedTrainer(counting_update, batch_size=64, steps_per_call=50)
  state, statistics = trainer.run(initial_state(64), rows_dataset(64), jax.random.PRNGKey(0), 0,
                                  200)
  counts = np.asarray(state['counts'])
  assert counts.sum() == 200 * 64
  assert np.sum((counts - 200.0) ** 2 / 200.0) < 100
  assert statistics['mean_value'] == pytest.approx(0.5, abs=0.01)


def test_streaming_draws_from_every_chunk_and_only_real_rows():
  dataset = rows_dataset(100, max_device_bytes=400, chunk_rows=30)
  trainer = device_data.ScannedTrainer(counting_update, batch_size=5, steps_per_call=2)
  assert trainer.steps_per_chunk(dataset) == 6  # 25 rows at 5 per step, in whole calls of 2
  state, _ = trainer.run(initial_state(100), dataset, jax.random.PRNGKey(0), 0, 480)
  counts = np.asarray(state['counts'])
  assert counts.sum() == 2400
  per_chunk = counts.reshape(4, 25).sum(axis=1)
  np.testing.assert_array_equal(per_chunk, [600, 600, 600, 600])  # 20 visits of 6 steps each
  assert np.all(counts > 0)


@pytest.mark.parametrize('streamed', [False, True])
def test_any_split_into_calls_gives_the_same_state(streamed):
  settings = dict(max_device_bytes=400, chunk_rows=30) if streamed else {}
  dataset = rows_dataset(100, **settings)
  key = jax.random.PRNGKey(3)
  trainer = device_data.ScannedTrainer(counting_update, batch_size=8, steps_per_call=50)
  results = []
  for splits in ([300], [100, 100, 100], [150, 150], [120, 180], [1, 49, 7, 243]):
    state, step = initial_state(100), 0
    for num_steps in splits:
      state, _ = trainer.run(state, dataset, key, step, num_steps)
      step += num_steps
    results.append(jax.device_get(state))
  for result in results[1:]:
    np.testing.assert_array_equal(result['counts'], results[0]['counts'])
    assert result['mix'].tobytes() == results[0]['mix'].tobytes()


def test_calls_end_at_multiples_of_steps_per_call():
  trainer = device_data.ScannedTrainer(counting_update, batch_size=2, steps_per_call=50)
  trainer.run(initial_state(10), rows_dataset(10), jax.random.PRNGKey(0), 30, 150)
  assert sorted(trainer._compiled) == [20, 30, 50]  # 30..50, 50..100, 100..150, 150..180
