#!/usr/bin/env python3
"""Run CleanRL's dqn_jax.py (CartPole-v1) as a speed peer and print one JSON line.

Prerequisite: ``bash benchmarks/peers/setup_cleanrl.sh`` (creates ``.venv-cleanrl`` with the
patched ``dqn_jax_gymnasium1.py``). This file uses only the standard library, so any python runs it:

    python3 benchmarks/peers/run_cleanrl_dqn.py --steps 50000 --seed 1

Settings: update every 4 steps, batch 128, learning starts at 500, target sync every 100 steps,
CleanRL's default 120-84 MLP, 1 env; wandb, video and model saving off. CleanRL writes ``runs/``
relative to its working directory, so the child runs in a temporary directory (deleted afterwards
unless --keep-run-dir).

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
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
VENV = REPO / ".venv-cleanrl"
SCRIPT = VENV / "dqn_jax_gymnasium1.py"

LEARNING_STARTS = 500
TRAIN_FREQUENCY = 4
BATCH_SIZE = 128
TARGET_NETWORK_FREQUENCY = 100
SPS_EVERY = 100  # CleanRL logs SPS when global_step % 100 == 0 (and it is a train step)

SPS_RE = re.compile(rb"^SPS: (\d+)\s*$")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=50_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--keep-run-dir", action="store_true", help="keep the temp dir with runs/ and stdout.log")
    p.add_argument("--verbose", action="store_true", help="echo CleanRL's output to stderr")
    args = p.parse_args()

    python = VENV / "bin" / "python"
    if not python.exists() or not SCRIPT.exists():
        sys.exit(f"missing {python} or {SCRIPT}: run `bash benchmarks/peers/setup_cleanrl.sh` first")

    cmd = [
        str(python), str(SCRIPT),
        "--env-id", "CartPole-v1",
        "--total-timesteps", str(args.steps),
        "--learning-starts", str(LEARNING_STARTS),
        "--train-frequency", str(TRAIN_FREQUENCY),
        "--batch-size", str(BATCH_SIZE),
        "--target-network-frequency", str(TARGET_NETWORK_FREQUENCY),
        "--seed", str(args.seed),
        "--track", "False", "--capture-video", "False", "--save-model", "False", "--upload-model", "False",
    ]
    env = dict(os.environ, PYTHONUNBUFFERED="1", WANDB_MODE="disabled")

    run_dir = Path(tempfile.mkdtemp(prefix="cleanrl_dqn_"))
    log_path = run_dir / "stdout.log"
    sps_points: list[tuple[float, int]] = []  # (arrival time, reported SPS), in order
    try:
        with open(log_path, "wb") as log:
            t0 = time.perf_counter()
            proc = subprocess.Popen(cmd, cwd=run_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            assert proc.stdout is not None
            for line in iter(proc.stdout.readline, b""):
                now = time.perf_counter()
                log.write(line)
                if args.verbose:
                    sys.stderr.write(line.decode(errors="replace"))
                m = SPS_RE.match(line)
                if m:
                    sps_points.append((now, int(m.group(1))))
            rc = proc.wait()
            process_wall_s = time.perf_counter() - t0
        if rc != 0 or len(sps_points) < 2:
            tail = log_path.read_bytes()[-3000:].decode(errors="replace")
            sys.stderr.write(f"CleanRL failed (rc={rc}, {len(sps_points)} SPS lines); output tail:\n{tail}\n")
            return rc or 1

        # SPS lines appear at steps 600, 700, ..., the last multiple of 100 below --steps.
        first_step = (LEARNING_STARTS // SPS_EVERY + 1) * SPS_EVERY
        last_step = first_step + SPS_EVERY * (len(sps_points) - 1)
        expected_last = (args.steps - 1) // SPS_EVERY * SPS_EVERY
        if last_step != expected_last:
            sys.stderr.write(f"warning: {len(sps_points)} SPS lines, expected last at step {expected_last}\n")
        (t_first, _), (t_last, sps_last) = sps_points[0], sps_points[-1]
        loop_sps = (last_step - first_step) / (t_last - t_first)

        print(json.dumps({
            "steps": args.steps,
            "process_wall_s": round(process_wall_s, 2),
            "loop_steps_per_s": round(loop_sps, 1),
            "sps_reported": sps_last,
        }))
        return 0
    finally:
        if args.keep_run_dir:
            sys.stderr.write(f"run dir kept: {run_dir}\n")
        else:
            shutil.rmtree(run_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
