#!/usr/bin/env python3
"""Run Dopamine's JAX full Rainbow agent on Atari Pong as a speed peer and print one JSON line.

Prerequisite: ``bash benchmarks/peers/setup_dopamine.sh`` (creates ``.venv-dopamine`` with
dopamine-rl 4.1.2, by default on the project's own jax/flax/optax versions plus tensorflow-cpu;
``DOPAMINE_STACK=era`` for Dopamine's 2024 stack; see the header of that script for the pins).

The script runs inside ``.venv-dopamine``. Started with any other python (e.g. ``python3``), it
re-executes itself with ``.venv-dopamine/bin/python`` (same process id, via os.execv) before
importing anything heavy, so both of these work:

    python3 benchmarks/peers/run_dopamine_rainbow.py                     # 5000 + 1000 + 20000 steps
    .venv-dopamine/bin/python benchmarks/peers/run_dopamine_rainbow.py --warmup 5000 \\
        --measure-steps 20000 --steps 26000 --replay-capacity 100000 --seed 0

What runs (all Dopamine's own code, unmodified):
  * environment: ``dopamine.discrete_domains.atari_lib.create_atari_environment`` (ALE/Pong-v5
    through gymnasium, frameskip 1 + Dopamine's AtariPreprocessing: frame skip 4, max-pool of the
    last two frames, grayscale 84x84), sticky actions (repeat_action_probability 0.25).
  * agent: ``dopamine.jax.agents.full_rainbow.full_rainbow_agent.JaxFullRainbowAgent``, configured
    through gin with the bindings of Dopamine's ``jax/agents/full_rainbow/configs/full_rainbow.gin``
    (the dopamine-rl wheel ships no gin files, so they are repeated in GIN_BINDINGS below; pass
    ``--gin-file`` to parse an upstream copy instead): gamma 0.99, n-step 3, update_period 4,
    target_update_period 8000, Adam lr 6.25e-5 eps 1.5e-4, noisy nets, dueling, double DQN,
    51 atoms, vmax 10, prioritized replay, batch 32. Two bindings are overridden, as a speed peer
    needs: ``JaxDQNAgent.min_replay_history`` (--warmup, gin: 20000) and the replay capacity
    (--replay-capacity, gin: 1000000, which would need about 7 GB of frames).
  * Dopamine 4.1.2 quirk, kept by default: JaxFullRainbowAgent sets ``_replay_scheme`` to
    'prioritized' and then calls JaxDQNAgent.__init__, which resets it to 'uniform'. The replay
    keeps its PrioritizedSamplingDistribution (sum tree), but transitions are added with priority
    1.0, priorities are never updated and the loss is not importance-weighted: in effect uniform
    sampling through a sum tree. ``--fix-prioritized`` sets it back to 'prioritized' after
    construction (priority updates and importance weights on, as full_rainbow.gin intends). The
    JSON reports both the value as built and the one in effect.
  * loop: the per-step logic of Dopamine's ``run_experiment.Runner._run_one_episode`` (reset ->
    agent.begin_episode; env.step -> agent.step; reward clipping to [-1, 1]; episode end on game
    over or after 27000 steps -> agent.end_episode), written out here so that the run stops after
    exactly --steps agent steps and each step can be timestamped. The Runner's per-iteration
    statistics, TensorBoard summaries and checkpoints (which write the replay buffer to disk) are
    left out; they are outside the per-step loop.

Not Dopamine's code, but needed for it to import (see setup_dopamine.sh): ``atari_lib`` imports
``baselines.common.atari_wrappers`` (OpenAI baselines, undeclared by dopamine-rl, used only for
PPO preprocessing). If ``baselines`` is not importable, an empty stand-in module is registered in
sys.modules before Dopamine is imported; any attribute access on it raises.

Output keys (one JSON line on stdout; logs go to stderr):
  steps              total agent steps run (= env steps after frame skip)
  warmup_steps       min_replay_history: transitions stored before the first update
  measure_steps      size of the measurement window (the last --measure-steps steps)
  loop_steps_per_s   steady-state rate: measure_steps / wall time of the last measure_steps steps.
                     The window must start after warm-up and after the first update (which compiles
                     the jitted train step); the script refuses otherwise.
  updates_in_window  gradient updates done in the window (one per update_period steps)
  window_cpu_util    CPU seconds this process used in the window / window wall seconds (2 cores
                     on this machine: up to about 2.0); with loadavg_1m_window (the 1-minute load
                     average at the window's start and end), a check that nothing else competed
  first_update_s     wall time of the step that ran the first update (includes its JIT compile)
  setup_s            from process start until the first env step (imports, env, agent, JIT init)
  process_wall_s     from process start (kernel start time of this pid) to just before printing
  peak_rss_mb        resource.getrusage(RUSAGE_SELF).ru_maxrss, in MiB
  episodes           episodes finished during the run
  replay_scheme_as_built / replay_scheme_effective   see the quirk above
  dopamine, jax, flax, tensorflow, gymnasium, ale_py   package versions
  replay_capacity, seed, sticky_actions, game, baselines_stand_in, jax_devices
"""

from __future__ import annotations

import os
import sys
import time

import process_usage  # beside this script, standard library only

_T_MODULE = time.time()
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV_PYTHON = os.path.join(REPO, ".venv-dopamine", "bin", "python")


def _process_start_time() -> float:
    """Wall-clock time at which this process started (Linux /proc), else module load time."""
    try:
        with open("/proc/self/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        start_ticks = int(fields[19])  # field 22 (starttime), counted after "pid (comm)"
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        boot = time.time() - uptime
        return boot + start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return _T_MODULE


def _reexec_in_venv() -> None:
    """If dopamine is not importable here, re-run this script with .venv-dopamine's python."""
    import importlib.util

    if importlib.util.find_spec("dopamine") is not None:
        return
    in_venv = os.path.realpath(sys.prefix) == os.path.realpath(os.path.dirname(os.path.dirname(VENV_PYTHON)))
    if in_venv or not os.path.exists(VENV_PYTHON):
        sys.exit(f"dopamine is not installed for {sys.executable}: run `bash benchmarks/peers/setup_dopamine.sh`")
    os.execv(VENV_PYTHON, [VENV_PYTHON, os.path.abspath(__file__), *sys.argv[1:]])


# Hyperparameters of dopamine/jax/agents/full_rainbow/configs/full_rainbow.gin (Dopamine 4.1.2),
# minus the Runner/create_agent bindings (this script has its own loop). Values in {} are filled in
# from the command line; the upstream values are given in the comments.
GIN_BINDINGS = """
JaxDQNAgent.gamma = 0.99
JaxDQNAgent.update_horizon = 3
JaxDQNAgent.min_replay_history = {warmup}  # upstream: 20_000
JaxDQNAgent.update_period = 4
JaxDQNAgent.target_update_period = 8_000
JaxDQNAgent.epsilon_train = 0.01
JaxDQNAgent.epsilon_eval = 0.001
JaxDQNAgent.epsilon_decay_period = 250_000
JaxDQNAgent.optimizer = 'adam'

JaxFullRainbowAgent.noisy = True
JaxFullRainbowAgent.dueling = True
JaxFullRainbowAgent.double_dqn = True
JaxFullRainbowAgent.num_atoms = 51
JaxFullRainbowAgent.vmax = 10.
JaxFullRainbowAgent.replay_scheme = 'prioritized'

create_optimizer.learning_rate = 0.0000625
create_optimizer.eps = 0.00015

atari_lib.create_atari_environment.game_name = 'Pong'
atari_lib.create_atari_environment.sticky_actions = True

ReplayBuffer.max_capacity = {capacity}  # upstream: 1_000_000
ReplayBuffer.batch_size = 32
PrioritizedSamplingDistribution.max_capacity = {capacity}  # upstream: 1_000_000
"""
# From the same gin file (Runner.max_steps_per_episode = 27_000); Runner clips rewards by default.
MAX_STEPS_PER_EPISODE = 27_000


def _install_baselines_stand_in() -> bool:
    """Register an empty `baselines.common.atari_wrappers` if OpenAI baselines is absent."""
    import types

    try:
        import baselines.common.atari_wrappers  # noqa: F401

        return False
    except ImportError:
        pass

    class _Absent(types.ModuleType):
        def __getattr__(self, attr):
            if attr.startswith("__"):
                raise AttributeError(attr)
            raise ImportError(
                f"{self.__name__}.{attr}: OpenAI baselines is not installed; run_dopamine_rainbow.py "
                "registered a stand-in because Dopamine only needs it for PPO preprocessing"
            )

    mods = {n: _Absent(n) for n in ("baselines", "baselines.common", "baselines.common.atari_wrappers")}
    for name, mod in mods.items():
        sys.modules[name] = mod
    mods["baselines"].__dict__["common"] = mods["baselines.common"]
    mods["baselines.common"].__dict__["atari_wrappers"] = mods["baselines.common.atari_wrappers"]
    return True


def main() -> int:
    import argparse

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--warmup", type=int, default=5000, help="min_replay_history (default 5000)")
    p.add_argument("--measure-steps", type=int, default=20_000, help="steady-state window (default 20000)")
    p.add_argument("--steps", type=int, default=None,
                   help="total agent steps (default: warmup + 1000 + measure-steps)")
    p.add_argument("--replay-capacity", type=int, default=100_000, help="replay capacity (default 100000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--gin-file", default=None,
                   help="parse this full_rainbow.gin instead of the built-in bindings (the warm-up and "
                        "capacity overrides are still applied)")
    p.add_argument("--fix-prioritized", action="store_true",
                   help="set the agent's _replay_scheme back to 'prioritized' after construction "
                        "(Dopamine 4.1.2's JaxDQNAgent.__init__ resets it to 'uniform'; see below)")
    p.add_argument("--progress-every", type=int, default=5000, help="log progress to stderr every N steps")
    args = p.parse_args()
    steps = args.steps if args.steps is not None else args.warmup + 1000 + args.measure_steps
    window_start = steps - args.measure_steps
    if args.measure_steps <= 0 or window_start < args.warmup + 100:
        p.error(f"--steps ({steps}) must be at least warmup + 100 + measure-steps "
                f"({args.warmup + 100 + args.measure_steps}): the window must start after the first update")

    t_start = _process_start_time()
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import warnings

    warnings.filterwarnings("ignore")
    stand_in = _install_baselines_stand_in()

    import importlib.metadata as md
    import json
    import resource

    import gin
    import jax
    import numpy as np
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.WARNING)
    from dopamine.discrete_domains import atari_lib
    from dopamine.jax.agents.full_rainbow import full_rainbow_agent
    from dopamine.jax.replay_memory import samplers

    overrides = {"warmup": args.warmup, "capacity": args.replay_capacity}
    if args.gin_file:
        gin.parse_config_file(args.gin_file)
        gin.parse_config(
            "JaxDQNAgent.min_replay_history = {warmup}\n"
            "ReplayBuffer.max_capacity = {capacity}\n"
            "PrioritizedSamplingDistribution.max_capacity = {capacity}\n".format(**overrides)
        )
    else:
        gin.parse_config(GIN_BINDINGS.format(**overrides))

    env = atari_lib.create_atari_environment()
    agent = full_rainbow_agent.JaxFullRainbowAgent(num_actions=env.action_space.n, seed=args.seed)
    # Dopamine 4.1.2 quirk: JaxFullRainbowAgent.__init__ stores replay_scheme='prioritized' and then
    # calls JaxDQNAgent.__init__, which overwrites self._replay_scheme with 'uniform'. The replay
    # still uses a PrioritizedSamplingDistribution (sum tree), but every transition is added with
    # priority 1.0, priorities are never updated and the loss is unweighted: in effect uniform
    # sampling. Left as published by default; --fix-prioritized restores 'prioritized' afterwards.
    scheme_as_built = agent._replay_scheme  # pylint: disable=protected-access
    if args.fix_prioritized:
        agent._replay_scheme = "prioritized"  # pylint: disable=protected-access

    # Fail loudly if the configuration did not take (e.g. a gin binding silently not applied).
    replay = agent._replay  # pylint: disable=protected-access
    checks = {
        "min_replay_history": (agent.min_replay_history, args.warmup),
        "update_period": (agent.update_period, 4),
        "update_horizon": (agent.update_horizon, 3),
        "target_update_period": (agent.target_update_period, 8000),
        "num_atoms": (agent._num_atoms, 51),
        "noisy": (agent._noisy, True),
        "dueling": (agent._dueling, True),
        "double_dqn": (agent._double_dqn, True),
        "prioritized_sampler": (isinstance(replay._sampling_distribution, samplers.PrioritizedSamplingDistribution), True),
        "batch_size": (replay._batch_size, 32),
        "replay_capacity": (replay._max_capacity, args.replay_capacity),
        "sticky_actions": (env.environment.unwrapped.ale.getFloat("repeat_action_probability"), 0.25),
        "game": (env.environment.unwrapped._game, "pong"),
    }
    bad = {k: v for k, v in checks.items() if v[0] != v[1]}
    if bad:
        sys.exit(f"configuration mismatch (have, want): {bad}")

    # The loop of run_experiment.Runner._run_one_episode, stopping after exactly `steps` steps.
    step_end = np.zeros(steps + 1)  # step_end[i]: time after agent step i (i = 1..steps)
    first_update_step = None
    initial_params = agent.online_params
    ts_window_start = None
    episodes = 0
    t_loop = time.perf_counter()
    step_end[0] = t_loop
    setup_s = time.time() - t_start
    action = agent.begin_episode(env.reset())
    episode_steps = 0
    for i in range(1, steps + 1):
        observation, reward, is_terminal, _ = env.step(action)
        episode_steps += 1
        reward = np.clip(reward, -1, 1)
        if env.game_over or episode_steps == MAX_STEPS_PER_EPISODE:
            agent.end_episode(reward, is_terminal)
            episodes += 1
            episode_steps = 0
            if i < steps:
                action = agent.begin_episode(env.reset())
        elif is_terminal:
            agent.end_episode(reward, is_terminal)
            action = agent.begin_episode(observation)
        else:
            action = agent.step(reward, observation)
        step_end[i] = time.perf_counter()
        if first_update_step is None and agent.online_params is not initial_params:
            first_update_step = i  # _train_step ran its first update (and compiled `train`) here
        if i == window_start:
            ts_window_start = agent.training_steps
            cpu_window_start = process_usage.cpu_seconds()
            load_window_start = process_usage.load_average_1m()
        if args.progress_every and i % args.progress_every == 0:
            rate = args.progress_every / (step_end[i] - step_end[i - args.progress_every])
            print(f"[dopamine-rainbow] step {i}/{steps}: {rate:.1f} steps/s over the last "
                  f"{args.progress_every}, episodes {episodes}", file=sys.stderr, flush=True)

    if first_update_step is None or first_update_step >= window_start:
        sys.exit(f"first update at step {first_update_step}, window starts at {window_start}: "
                 "increase --steps")
    window_s = step_end[steps] - step_end[window_start]
    cpu_window_s = process_usage.cpu_seconds() - cpu_window_start
    jax.block_until_ready(agent.online_params)
    result = {
        "peer": "dopamine_full_rainbow_pong",
        "steps": steps,
        "warmup_steps": args.warmup,
        "measure_steps": args.measure_steps,
        "loop_steps_per_s": round(args.measure_steps / window_s, 2),
        # JaxDQNAgent._train_step updates when training_steps % update_period == 0 (past warm-up)
        "updates_in_window": sum(1 for t in range(ts_window_start, agent.training_steps)
                                 if t % agent.update_period == 0),
        "window_cpu_util": round(cpu_window_s / window_s, 2),
        "loadavg_1m_window": [load_window_start, process_usage.load_average_1m()],
        "first_update_s": round(float(step_end[first_update_step] - step_end[first_update_step - 1]), 3),
        "setup_s": round(setup_s, 2),
        "process_wall_s": round(time.time() - t_start, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "episodes": episodes,
        "replay_capacity": args.replay_capacity,
        "replay_scheme_as_built": scheme_as_built,
        "replay_scheme_effective": agent._replay_scheme,  # pylint: disable=protected-access
        "seed": args.seed,
        "game": "Pong",
        "sticky_actions": True,
        "baselines_stand_in": stand_in,
        "dopamine": md.version("dopamine-rl"),
        "jax": jax.__version__,
        "flax": md.version("flax"),
        "tensorflow": md.version("tensorflow-cpu") if _has_dist(md, "tensorflow-cpu") else md.version("tensorflow"),
        "gymnasium": md.version("gymnasium"),
        "ale_py": md.version("ale-py"),
        "jax_devices": [d.platform for d in jax.devices()],
    }
    print(json.dumps(result), flush=True)
    return 0


def _has_dist(md, name: str) -> bool:
    try:
        md.version(name)
        return True
    except md.PackageNotFoundError:
        return False


if __name__ == "__main__":
    _reexec_in_venv()
    sys.exit(main())
