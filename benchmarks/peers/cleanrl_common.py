"""Shared code for the CleanRL speed-peer runners (standard library only).

Used by ``run_cleanrl_dqn.py`` (CartPole) and ``run_cleanrl_dqn_atari.py`` (Pong); not a script.
Both run a patched CleanRL script written by ``bash benchmarks/peers/setup_cleanrl.sh`` into
``.venv-cleanrl`` with that venv's python, unbuffered, in a temporary working directory (CleanRL
writes ``runs/`` relative to it), and timestamp each "SPS: N" line as it arrives.

CleanRL's DQN scripts print "SPS: N" on train steps with ``global_step % 100 == 0``, i.e. every 100
steps once ``global_step > learning_starts`` (train frequency 4 divides 100), the first one after
the first update (and so its JIT compile) has run. N is ``global_step / (time since loop start)``.
"""

from __future__ import annotations

import dataclasses
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
VENV = REPO / ".venv-cleanrl"
PYTHON = VENV / "bin" / "python"
SETUP_HINT = "run `bash benchmarks/peers/setup_cleanrl.sh` first"

SPS_EVERY = 100  # CleanRL logs SPS when global_step % 100 == 0 (and it is a train step)
SPS_RE = re.compile(rb"^SPS: (\d+)\s*$")
COMMON_FLAGS = ["--track", "False", "--capture-video", "False", "--save-model", "False", "--upload-model", "False"]


@dataclasses.dataclass
class ChildRun:
    rc: int
    process_wall_s: float                  # wall time of the whole child process
    sps_points: list[tuple[float, int]]    # (arrival time, reported SPS) of each "SPS: N" line, in order
    peak_rss_mb: float                     # peak RSS of the child (ru_maxrss of RUSAGE_CHILDREN)
    cpu_s: float                           # user + system CPU time of the child
    output_tail: str                       # last 3000 bytes of the child's stdout+stderr


def check_installed(script: Path) -> None:
    if not PYTHON.exists() or not script.exists():
        sys.exit(f"missing {PYTHON} or {script}: {SETUP_HINT}")


def run_child(script: Path, script_args: list[str], *, prefix: str, keep_run_dir: bool, verbose: bool) -> ChildRun:
    """Run ``.venv-cleanrl/bin/python script *script_args`` in a temp dir, collecting SPS lines."""
    cmd = [str(PYTHON), str(script), *script_args]
    env = dict(os.environ, PYTHONUNBUFFERED="1", WANDB_MODE="disabled")
    run_dir = Path(tempfile.mkdtemp(prefix=prefix))
    log_path = run_dir / "stdout.log"
    sps_points: list[tuple[float, int]] = []
    try:
        with open(log_path, "wb") as log:
            t0 = time.perf_counter()
            proc = subprocess.Popen(cmd, cwd=run_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            assert proc.stdout is not None
            for line in iter(proc.stdout.readline, b""):
                now = time.perf_counter()
                log.write(line)
                if verbose:
                    sys.stderr.write(line.decode(errors="replace"))
                m = SPS_RE.match(line)
                if m:
                    sps_points.append((now, int(m.group(1))))
            rc = proc.wait()
            process_wall_s = time.perf_counter() - t0
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # this process runs no other children
        tail = log_path.read_bytes()[-3000:].decode(errors="replace")
        return ChildRun(rc, process_wall_s, sps_points, usage.ru_maxrss / 1024,  # ru_maxrss: KiB on Linux
                        usage.ru_utime + usage.ru_stime, tail)
    finally:
        if keep_run_dir:
            sys.stderr.write(f"run dir kept: {run_dir}\n")
        else:
            shutil.rmtree(run_dir, ignore_errors=True)


def sps_steps(learning_starts: int, total_steps: int, n_points: int) -> list[int]:
    """global_step of each SPS line: every 100 steps from the first multiple of 100 above
    learning_starts. Warns if the count does not end at the last multiple of 100 below total_steps."""
    first_step = (learning_starts // SPS_EVERY + 1) * SPS_EVERY
    steps = [first_step + SPS_EVERY * i for i in range(n_points)]
    expected_last = (total_steps - 1) // SPS_EVERY * SPS_EVERY
    if not steps or steps[-1] != expected_last:
        sys.stderr.write(f"warning: {n_points} SPS lines, expected last at step {expected_last}\n")
    return steps


def report_failure(run: ChildRun) -> int:
    sys.stderr.write(f"CleanRL failed (rc={run.rc}, {len(run.sps_points)} SPS lines); output tail:\n{run.output_tail}\n")
    return run.rc or 1
