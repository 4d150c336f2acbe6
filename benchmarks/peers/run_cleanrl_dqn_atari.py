#!/usr/bin/env python3
"""Run CleanRL's dqn_atari_jax.py (Pong) as a speed peer and print one JSON line.

Prerequisite: ``bash benchmarks/peers/setup_cleanrl.sh`` (creates ``.venv-cleanrl`` with the
patched ``dqn_atari_jax_gymnasium1.py``). This file uses only the standard library, so any python
runs it:

    python3 benchmarks/peers/run_cleanrl_dqn_atari.py                       # 25,000 steps, learning at 5,000
    python3 benchmarks/peers/run_cleanrl_dqn_atari.py --steps 25000 --learning-starts 5000

Settings: CleanRL's own Atari DQN defaults (Nature CNN, batch 32, update every 4 steps, Adam 1e-4,
target sync every 1,000 steps, epsilon 1 -> 0.01 over the first 10% of --steps, SB3's Atari
wrappers: no-op reset, max-and-skip 4, episodic life, fire reset, reward clipping, 84x84 grayscale,
4-frame stack) on ``PongNoFrameskip-v4``, 1 env, wandb/video/model saving off. Only two things
differ from ``dqn_atari_jax.py``'s defaults, both passed on its command line:
  --buffer-size      100,000 (its 1M default is 26.3 GiB of frame stacks: does not fit in 24 GiB)
  --learning-starts  5,000 (its default is 80,000) so that a benchmark run is cheap
Because epsilon reaches 0.01 after 10% of --steps, almost every step in the measured window also
runs the greedy Q-network forward (as in the late part of a full run).

The child runs in a temporary directory (deleted unless --keep-run-dir), see cleanrl_common.py.

Output keys:
  steps             total env/agent steps (--total-timesteps)
  process_wall_s    wall time of the whole child process (interpreter start, imports, JIT, loop, exit)
  loop_steps_per_s  steady-state agent steps/s after learning has started: CleanRL prints "SPS: ..."
                    every 100 steps once global_step > learning_starts (the first one after the
                    first update, so after its JIT compile); each such line is timestamped on
                    arrival and this is (step_b - step_a) / (t_b - t_a) over the last SPS line (b)
                    and the SPS line (a) --measure-steps before it, or the first one if that is later
  measured_steps    step_b - step_a, the length of that window
  sps_reported      CleanRL's own last printed SPS: global_step / time since the loop started
                    (includes the random warm-up steps before learning and the JIT compiles)
  peak_rss_mb       peak resident memory of the CleanRL process (ru_maxrss of RUSAGE_CHILDREN);
                    the replay buffer's pages are touched as it fills (28 KB per step)
  process_cpu_s     user + system CPU time of the CleanRL process; well below 2 x process_wall_s
                    means the 2 cores were shared with other work (the rate is then pessimistic)
  env_id, learning_starts, buffer_size   the settings used
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # also when not run as a script
import cleanrl_common as common  # noqa: E402

SCRIPT = common.VENV / "dqn_atari_jax_gymnasium1.py"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env-id", default="PongNoFrameskip-v4",
                   help="ALE id; the script's wrappers (max-and-skip 4) expect a NoFrameskip-v4 id")
    p.add_argument("--steps", type=int, default=None,
                   help="total agent steps (default: --learning-starts + --measure-steps)")
    p.add_argument("--learning-starts", type=int, default=5_000)
    p.add_argument("--measure-steps", type=int, default=20_000,
                   help="measure the steady-state rate over at most this many steps at the end of the run, "
                        "all after learning has started")
    p.add_argument("--buffer-size", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--keep-run-dir", action="store_true", help="keep the temp dir with runs/ and stdout.log")
    p.add_argument("--verbose", action="store_true", help="echo CleanRL's output to stderr")
    args = p.parse_args()
    total = args.steps if args.steps is not None else args.learning_starts + args.measure_steps
    if total < args.learning_starts + 3 * common.SPS_EVERY:
        p.error(f"--steps {total} leaves too few steps after --learning-starts {args.learning_starts}")

    common.check_installed(SCRIPT)
    script_args = [
        "--env-id", args.env_id,
        "--total-timesteps", str(total),
        "--learning-starts", str(args.learning_starts),
        "--buffer-size", str(args.buffer_size),
        "--seed", str(args.seed),
        *common.COMMON_FLAGS,
    ]
    run = common.run_child(SCRIPT, script_args, prefix="cleanrl_dqn_atari_", keep_run_dir=args.keep_run_dir,
                           verbose=args.verbose)
    if run.rc != 0 or len(run.sps_points) < 2:
        return common.report_failure(run)

    steps = common.sps_steps(args.learning_starts, total, len(run.sps_points))
    b = len(steps) - 1
    a = next(i for i, s in enumerate(steps) if s >= steps[b] - args.measure_steps)
    if a == b:
        a = b - 1
    (t_a, _), (t_b, sps_last) = run.sps_points[a], run.sps_points[b]
    loop_sps = (steps[b] - steps[a]) / (t_b - t_a)

    print(json.dumps({
        "steps": total,
        "process_wall_s": round(run.process_wall_s, 2),
        "loop_steps_per_s": round(loop_sps, 1),
        "measured_steps": steps[b] - steps[a],
        "sps_reported": sps_last,
        "peak_rss_mb": round(run.peak_rss_mb, 1),
        "process_cpu_s": round(run.cpu_s, 1),
        "env_id": args.env_id,
        "learning_starts": args.learning_starts,
        "buffer_size": args.buffer_size,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
