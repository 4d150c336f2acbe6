#!/usr/bin/env python3
"""Run CleanRL's dqn_jax.py (CartPole-v1) as a speed peer and print one JSON line.

Prerequisite: ``bash benchmarks/peers/setup_cleanrl.sh`` (creates ``.venv-cleanrl`` with the
patched ``dqn_jax_gymnasium1.py``). This file uses only the standard library, so any python runs it:

    python3 benchmarks/peers/run_cleanrl_dqn.py --steps 50000 --seed 1

Settings: update every 4 steps, batch 128, learning starts at 500, target sync every 100 steps,
CleanRL's default 120-84 MLP, 1 env; wandb, video and model saving off. CleanRL writes ``runs/``
relative to its working directory, so the child runs in a temporary directory (deleted afterwards
unless --keep-run-dir). The child-running code is shared with run_cleanrl_dqn_atari.py
(cleanrl_common.py).

Output keys:
  steps             total env/agent steps (--total-timesteps)
  process_wall_s    wall time of the whole child process (interpreter start, imports, JIT, loop, exit)
  loop_steps_per_s  steady-state training-loop rate after warm-up: CleanRL prints "SPS: ..." every
                    100 steps once learning has started (first at step 600, i.e. after the update
                    function has been compiled); with the child unbuffered, each such line is
                    timestamped on arrival and this is (last_step - first_step) / (t_last - t_first)
  sps_reported      CleanRL's own last printed SPS: global_step / time since the loop started
                    (includes the 500 random warm-up steps and the first-update JIT compile)
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # also when not run as a script
import cleanrl_common as common  # noqa: E402

SCRIPT = common.VENV / "dqn_jax_gymnasium1.py"

LEARNING_STARTS = 500
TRAIN_FREQUENCY = 4
BATCH_SIZE = 128
TARGET_NETWORK_FREQUENCY = 100


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=50_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--keep-run-dir", action="store_true", help="keep the temp dir with runs/ and stdout.log")
    p.add_argument("--verbose", action="store_true", help="echo CleanRL's output to stderr")
    args = p.parse_args()

    common.check_installed(SCRIPT)
    script_args = [
        "--env-id", "CartPole-v1",
        "--total-timesteps", str(args.steps),
        "--learning-starts", str(LEARNING_STARTS),
        "--train-frequency", str(TRAIN_FREQUENCY),
        "--batch-size", str(BATCH_SIZE),
        "--target-network-frequency", str(TARGET_NETWORK_FREQUENCY),
        "--seed", str(args.seed),
        *common.COMMON_FLAGS,
    ]
    run = common.run_child(SCRIPT, script_args, prefix="cleanrl_dqn_", keep_run_dir=args.keep_run_dir,
                           verbose=args.verbose)
    if run.rc != 0 or len(run.sps_points) < 2:
        return common.report_failure(run)

    # SPS lines appear at steps 600, 700, ..., the last multiple of 100 below --steps.
    steps = common.sps_steps(LEARNING_STARTS, args.steps, len(run.sps_points))
    (t_first, _), (t_last, sps_last) = run.sps_points[0], run.sps_points[-1]
    loop_sps = (steps[-1] - steps[0]) / (t_last - t_first)

    print(json.dumps({
        "steps": args.steps,
        "process_wall_s": round(run.process_wall_s, 2),
        "loop_steps_per_s": round(loop_sps, 1),
        "sps_reported": sps_last,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
