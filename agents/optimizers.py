"""The one optimizer factory every agent builds its optimizers with (gin: `create_optimizer`).

Dopamine's `create_optimizer` (Adam, RMSProp, SGD with its Atari Adam defaults), extended with what
the later methods train with: AdamW's decoupled weight decay, a linear warm-up followed by a cosine
decay of the learning rate, and gradient clipping by global norm. With the defaults (a constant
rate, no clipping) the result is exactly the plain optax optimizer, with the same state pytree, so
checkpoints and learning numbers do not change when an agent moves onto this factory.
"""

from typing import Optional, Union

import gin
import optax

SCHEDULES = ('constant', 'warmup_cosine')


def learning_rate_schedule(learning_rate: float, schedule: str = 'constant',
                           warmup_steps: int = 0, decay_steps: int = 0,
                           end_learning_rate: float = 0.0) -> Union[float, optax.Schedule]:
  """`learning_rate` itself ('constant'), or a schedule over update steps ('warmup_cosine'): linear
  from 0 to `learning_rate` over `warmup_steps`, then a cosine decay to `end_learning_rate`
  reached at step `decay_steps` (counted from 0, warm-up included, as optax counts), held after."""
  if schedule == 'constant':
    return learning_rate
  if schedule == 'warmup_cosine':
    if decay_steps <= warmup_steps:
      raise ValueError(f"the 'warmup_cosine' schedule needs decay_steps > warmup_steps, got "
                       f'decay_steps={decay_steps}, warmup_steps={warmup_steps}')
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0, peak_value=learning_rate, warmup_steps=warmup_steps,
        decay_steps=decay_steps, end_value=end_learning_rate)
  raise ValueError(f'unknown learning-rate schedule {schedule!r}; choose one of {SCHEDULES}')


@gin.configurable
def create_optimizer(name: str = 'adam', learning_rate: float = 6.25e-5, beta1: float = 0.9,
                     beta2: float = 0.999, eps: float = 1.5e-4, centered: bool = False,
                     weight_decay: float = 1e-4, schedule: str = 'constant',
                     warmup_steps: int = 0, decay_steps: int = 0, end_learning_rate: float = 0.0,
                     max_grad_norm: Optional[float] = None) -> optax.GradientTransformation:
  """An optax optimizer by name: 'adam', 'adamw' (Adam with `weight_decay` applied to the
  parameters directly, decoupled from the gradient's moments, Loshchilov & Hutter), 'rmsprop'
  (`beta2` is its decay) or 'sgd'. The defaults are Dopamine's Atari Adam settings.

  `schedule` and its arguments set the learning rate per update (see learning_rate_schedule);
  `max_grad_norm` clips the gradients to that global norm before the optimizer sees them.
  """
  rate = learning_rate_schedule(learning_rate, schedule, warmup_steps, decay_steps,
                                end_learning_rate)
  factories = {
      'adam': lambda: optax.adam(rate, b1=beta1, b2=beta2, eps=eps),
      'adamw': lambda: optax.adamw(rate, b1=beta1, b2=beta2, eps=eps, weight_decay=weight_decay),
      'rmsprop': lambda: optax.rmsprop(rate, decay=beta2, eps=eps, centered=centered),
      'sgd': lambda: optax.sgd(rate),
  }
  if name not in factories:
    raise ValueError(f'unknown optimizer {name!r}; choose one of {sorted(factories)}')
  optimizer = factories[name]()
  if max_grad_norm is None:
    return optimizer
  if max_grad_norm <= 0:
    raise ValueError(f'max_grad_norm must be positive (or None for no clipping), got '
                     f'{max_grad_norm}')
  return optax.chain(optax.clip_by_global_norm(max_grad_norm), optimizer)
