"""Child of run_sbx_sac.py: train SBX's SAC on HalfCheetah-v5 and print one JSON line of timings.

Runs inside ``.venv-sbx`` (``bash benchmarks/peers/setup_sbx.sh``); started by
``benchmarks/peers/run_sbx_sac.py``, which adds the process-level measurements (wall, CPU, peak
memory). Not meant to be run by hand, but it can be:

    .venv-sbx/bin/python benchmarks/peers/sbx_sac_child.py --steps 26000 --warmup 5000 \\
        --measure-steps 20000 --seed 0

What runs: ``sbx.SAC("MlpPolicy", "HalfCheetah-v5", ...).learn(steps)``, i.e. SBX's and SB3's own
loop (DummyVecEnv of 1 env with SB3's Monitor wrapper, SB3's ReplayBuffer, random actions before
learning_starts), SBX's defaults except the settings listed in run_sbx_sac.py. The only thing added
is a callback (SB3's BaseCallback) that stores ``time.perf_counter()`` after every env step into a
preallocated array; it does no other work in the loop. SB3 calls it right after ``env.step`` of step
n (before the transition is stored and before that step's gradient update), so the time between the
calls for steps a and b covers exactly b - a env steps and b - a updates once a is past the first
update.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time

import process_usage  # beside this script, standard library only

WINDOW_MARGIN = 200  # the window starts at least this many steps after learning_starts


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--warmup", type=int, required=True)
    p.add_argument("--measure-steps", type=int, required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--env-id", default="HalfCheetah-v5")
    p.add_argument("--buffer-size", type=int, default=1_000_000)
    p.add_argument("--batch-size", type=int, default=256)
    args = p.parse_args()
    steps, warmup = args.steps, args.warmup
    window_start = steps - args.measure_steps
    if args.measure_steps <= 0 or window_start < warmup + WINDOW_MARGIN:
        sys.exit(f"--steps ({steps}) must be at least warmup + {WINDOW_MARGIN} + measure-steps "
                 f"({warmup + WINDOW_MARGIN + args.measure_steps}): the window must start after the first update")

    t_import = time.perf_counter()
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import warnings

    warnings.filterwarnings("ignore")
    import importlib.metadata as md

    import jax
    import numpy as np
    from sbx import SAC
    from stable_baselines3.common.callbacks import BaseCallback

    stamps = np.zeros(steps + 1)  # stamps[n]: perf_counter right after env step n (n = 1..steps)
    marks: dict = {}

    class StepClock(BaseCallback):
        def _on_step(self) -> bool:
            n = self.model.num_timesteps
            stamps[n] = time.perf_counter()
            if "first_update_step" not in marks and self.model._n_updates > 0:
                marks["first_update_step"] = n  # the first update (and its jit compile) ran before this
            if n == window_start:
                marks["updates_a"] = self.model._n_updates
                marks["cpu_a"] = process_usage.cpu_seconds()
                marks["load_a"] = process_usage.load_average_1m()
            elif n == steps:
                marks["updates_b"] = self.model._n_updates
                marks["cpu_b"] = process_usage.cpu_seconds()
                marks["load_b"] = process_usage.load_average_1m()
            return True

    t_setup = time.perf_counter()
    model = SAC(
        "MlpPolicy",
        args.env_id,
        buffer_size=args.buffer_size,
        learning_starts=warmup,
        batch_size=args.batch_size,
        train_freq=1,
        gradient_steps=1,
        policy_kwargs={"net_arch": [256, 256]},  # = SBX's default for SAC (SACPolicy: [256, 256])
        verbose=0,
        seed=args.seed,
    )
    setup_s = time.perf_counter() - t_setup
    import_s = t_setup - t_import

    # Fail loudly if the configuration is not what the runner promises.
    policy = model.policy
    kernels = {k: v["kernel"].shape for k, v in policy.actor_state.params["params"].items()}
    qf_params = policy.qf_state.params["params"]
    checks = {
        "batch_size": (model.batch_size, args.batch_size),
        "train_freq": ((model.train_freq.frequency, model.train_freq.unit.value), (1, "step")),
        "gradient_steps": (model.gradient_steps, 1),
        "learning_starts": (model.learning_starts, warmup),
        "buffer_size": (model.replay_buffer.buffer_size, args.buffer_size),
        "n_envs": (model.n_envs, 1),
        "policy_delay": (model.policy_delay, 1),
        "n_steps": (model.n_steps, 1),
        "n_critics": (policy.n_critics, 2),
        "net_arch_pi": (list(policy.net_arch_pi), [256, 256]),
        "net_arch_qf": (list(policy.net_arch_qf), [256, 256]),
        "actor_hidden_kernels": ([kernels["Dense_0"][1], kernels["Dense_1"][1]], [256, 256]),
        "critic_params_stacked": (jax.tree_util.tree_leaves(qf_params)[0].shape[0], 2),
        "use_sde": (model.use_sde, False),
        "action_noise": (model.action_noise, None),
    }
    bad = {k: v for k, v in checks.items() if v[0] != v[1]}
    if bad:
        sys.exit(f"configuration mismatch (have, want): {bad}")
    ent_coef_init = float(model.ent_coef_state.apply_fn({"params": model.ent_coef_state.params}))

    t_loop = time.perf_counter()
    stamps[0] = t_loop
    model.learn(total_timesteps=steps, callback=StepClock(), log_interval=None, progress_bar=False)
    loop_s = time.perf_counter() - t_loop
    jax.block_until_ready(model.policy.qf_state.params)

    if model.num_timesteps != steps or "updates_b" not in marks:
        sys.exit(f"ran {model.num_timesteps} steps, expected {steps}")
    f = marks.get("first_update_step")
    if f is None or f > window_start - 100:
        sys.exit(f"first update seen at step {f}, window starts at {window_start}: increase --steps")
    window_s = stamps[steps] - stamps[window_start]
    measured = steps - window_start
    print(json.dumps({
        "loop_steps_per_s": round(measured / window_s, 2),
        "measured_steps": measured,
        "window": [window_start, steps],
        "updates_in_window": marks["updates_b"] - marks["updates_a"],
        "total_updates": model._n_updates,
        "window_cpu_util": round((marks["cpu_b"] - marks["cpu_a"]) / window_s, 2),
        "loadavg_1m_window": [marks["load_a"], marks["load_b"]],
        "first_update_step": f,
        "first_update_s": round(float(stamps[f] - stamps[f - 1]), 3),
        "warmup_steps_per_s": round(warmup / (stamps[warmup] - stamps[0]), 1) if warmup > 0 else None,
        "import_s": round(import_s, 2),
        "setup_s": round(setup_s, 2),
        "loop_s": round(loop_s, 2),
        "child_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "episodes": model._episode_num,
        "settings": {
            "env_id": args.env_id,
            "learning_starts": warmup,
            "batch_size": model.batch_size,
            "train_freq": 1,
            "gradient_steps": 1,
            "buffer_size": model.replay_buffer.buffer_size,
            "net_arch": list(policy.net_arch_pi),
            "n_critics": policy.n_critics,
            "learning_rate": model.learning_rate,
            "qf_learning_rate": model.qf_learning_rate,
            "tau": model.tau,
            "gamma": model.gamma,
            "policy_delay": model.policy_delay,
            "ent_coef": model.ent_coef_init,
            "ent_coef_init_value": round(ent_coef_init, 6),
            "target_entropy": float(model.target_entropy),
            "n_envs": model.n_envs,
            "seed": args.seed,
            "verbose": 0,
            "evaluation": False,
        },
        "versions": {name: md.version(name) for name in
                     ("sbx-rl", "stable-baselines3", "jax", "flax", "optax", "tfp-nightly", "torch",
                      "gymnasium", "mujoco", "numpy")},
        "jax_devices": [d.platform for d in jax.devices()],
    }), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
