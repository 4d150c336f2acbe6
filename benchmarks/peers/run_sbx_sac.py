#!/usr/bin/env python3
"""Run SBX's SAC (sbx-rl 0.28.0) on HalfCheetah-v5 as a speed peer and print one JSON line.

Prerequisite: ``bash benchmarks/peers/setup_sbx.sh`` (creates ``.venv-sbx`` with sbx-rl,
stable-baselines3, CPU torch, the zoo's jax/flax/optax and gymnasium[mujoco] on mujoco 3.3.0; see
the header of that script for the pins). This file uses only the standard library, so any python
runs it; SBX itself runs in a child process, ``.venv-sbx/bin/python sbx_sac_child.py``:

    python3 benchmarks/peers/run_sbx_sac.py                       # 5000 + 1000 + 20000 steps
    python3 benchmarks/peers/run_sbx_sac.py --warmup 5000 --measure-steps 20000 --steps 26000 --seed 0

Settings: ``sbx.SAC("MlpPolicy", "HalfCheetah-v5")`` with SBX's defaults (Adam lr 3e-4 for actor,
critics and temperature; tau 0.005; gamma 0.99; twin critics; ent_coef 'auto' starting at 1.0;
target_entropy -dim(A) = -6; policy_delay 1, i.e. actor and temperature updated on every critic
update; soft target update every update; no n-step; SB3's ReplayBuffer, random actions before
learning starts; DummyVecEnv of 1 env with SB3's Monitor) and these passed explicitly:
  batch_size 256, train_freq 1, gradient_steps 1   one update of batch 256 per env step
  learning_starts --warmup (SBX's default is 100) so that the window is past warm-up
  buffer_size 1,000,000 (= SBX's default)
  net_arch [256, 256] for actor and critics (= SBX's SACPolicy default, checked in the child)
  verbose 0, no evaluation callback, no TensorBoard, seed --seed.

Output keys:
  steps             total env/agent steps (model.learn(total_timesteps=steps))
  loop_steps_per_s  steady-state agent steps/s: a callback in the child stores time.perf_counter()
                    after every env step; this is measured_steps / (t[steps] - t[steps -
                    measured_steps]), i.e. over the last --measure-steps steps, each with one env
                    step and one gradient update. The child refuses to run unless that window starts
                    at least 200 steps after --warmup (the first update, which jit-compiles SBX's
                    _train, runs right after step warmup + 1).
  measured_steps    length of that window; updates_in_window: gradient updates done in it
  window_cpu_util   child CPU seconds in the window / window wall seconds (up to about 2.0 on 2
                    cores); with loadavg_1m_window, a check that nothing else competed
  first_update_step, first_update_s   the step after which the first update ran, and that step's
                    wall time (includes the jit compile of the update)
  warmup_steps_per_s rate of the random-action steps before learning (env + buffer + SB3 loop)
  import_s, setup_s, loop_s   child import time, SAC construction (incl. env and buffer), learn()
  process_wall_s    wall time of the whole child process (interpreter start to exit)
  process_cpu_s     user + system CPU time of the child process
  peak_rss_mb       peak resident memory of the child process (ru_maxrss of RUSAGE_CHILDREN)
  settings, versions, jax_devices   what was run
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
VENV_PYTHON = os.path.join(REPO, ".venv-sbx", "bin", "python")
CHILD = os.path.join(HERE, "sbx_sac_child.py")
WINDOW_MARGIN = 200  # as in sbx_sac_child.py


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--warmup", type=int, default=5000, help="learning_starts (default 5000)")
    p.add_argument("--measure-steps", type=int, default=20_000, help="steady-state window (default 20000)")
    p.add_argument("--steps", type=int, default=None, help="total agent steps (default: warmup + 1000 + measure-steps)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--verbose", action="store_true", help="echo the child's stderr")
    args = p.parse_args()
    steps = args.steps if args.steps is not None else args.warmup + 1000 + args.measure_steps
    if args.measure_steps <= 0 or steps - args.measure_steps < args.warmup + WINDOW_MARGIN:
        p.error(f"--steps ({steps}) must be at least warmup + {WINDOW_MARGIN} + measure-steps "
                f"({args.warmup + WINDOW_MARGIN + args.measure_steps}): the window must start after the first update")
    if not os.path.exists(VENV_PYTHON):
        sys.exit(f"missing {VENV_PYTHON}: run `bash benchmarks/peers/setup_sbx.sh` first")

    cmd = [VENV_PYTHON, CHILD, "--steps", str(steps), "--warmup", str(args.warmup),
           "--measure-steps", str(args.measure_steps), "--seed", str(args.seed)]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.setdefault("JAX_PLATFORMS", "cpu")
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, check=False, stdout=subprocess.PIPE,
                          stderr=None if args.verbose else subprocess.PIPE)
    process_wall_s = time.perf_counter() - t0
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # this process runs no other children
    lines = [ln for ln in proc.stdout.decode(errors="replace").splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        err = (proc.stderr or b"").decode(errors="replace")[-3000:]
        sys.stderr.write(f"SBX SAC child failed (rc={proc.returncode}); output tail:\n"
                         f"{proc.stdout.decode(errors='replace')[-2000:]}\n{err}\n")
        return proc.returncode or 1
    child = json.loads(lines[-1])

    result = {
        "peer": "sbx_sac_halfcheetah",
        "steps": steps,
        "loop_steps_per_s": child.pop("loop_steps_per_s"),
        "measured_steps": child.pop("measured_steps"),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),  # ru_maxrss: KiB on Linux
        "process_cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
        "process_wall_s": round(process_wall_s, 2),
        "warmup_steps": args.warmup,
        **child,
    }
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
