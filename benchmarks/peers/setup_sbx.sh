#!/usr/bin/env bash
# Set up SBX (Stable Baselines Jax, PyPI `sbx-rl` 0.28.0) as a speed peer for SAC on MuJoCo, in its
# own venv, without committing or patching any SBX code.
#
#   bash benchmarks/peers/setup_sbx.sh            # idempotent; FORCE=1 to rebuild the venv
#   python3 benchmarks/peers/run_sbx_sac.py       # then run the peer (see that file)
#
# Creates   <repo>/.venv-sbx   (separate venv, ignored by git through `.venv-*/`)
# Runner    benchmarks/peers/run_sbx_sac.py (+ its child benchmarks/peers/sbx_sac_child.py)
#
# Why a separate venv: sbx-rl 0.28.0 declares stable_baselines3>=2.9.0,<3, jax>=0.4.24,<0.12, flax,
# optax, tqdm, rich and tfp-nightly>=0.26.0.dev20250831. stable-baselines3 depends on torch, and
# SBX really uses it: SAC samples from SB3's ReplayBuffer, which returns torch tensors that SBX
# converts with .numpy(). The zoo's own .venv must stay free of torch and TensorFlow, so SBX lives
# here. tfp-nightly is only used through its JAX substrate (the squashed Gaussian policy); it does
# not pull TensorFlow.
#
# Pins (all resolve together with a plain `pip install`; no --no-deps needed):
#   sbx-rl 0.28.0 (newest), stable-baselines3 2.9.2 (newest)
#   jax/jaxlib 0.10.2, flax 0.12.8, optax 0.2.8, numpy 2.4.6: the zoo's own numerical stack (shared
#       FACTS), so both libraries' SAC networks are compiled by the same XLA; jax 0.10.2 < 0.12 as
#       SBX requires.
#   tfp-nightly 0.26.0.dev20261027: the same build the Dopamine peer uses; its JAX substrate imports
#       on jax 0.10.
#   torch 2.13.0: resolves to the local CPU wheel in /opt/wheels (2.13.0+cpu); any other torch
#       version pulls GBs of CUDA wheels. Checked after the install.
#   gymnasium[mujoco] 1.4.0 with mujoco 3.3.0: the zoo pins mujoco==3.3.0 (setup.py, extra
#       'mujoco'), so HalfCheetah-v5 steps at the same speed in both venvs. imageio 2.38.1 is what
#       gymnasium[mujoco] needs besides mujoco (the zoo's .venv has the same).
#   tqdm 4.70.1, rich 15.0.0: SBX's remaining direct dependencies (the zoo's versions).
# The venv is always built fresh (FORCE=1, a changed pin list, or an interrupted install delete it
# first): downgrading mujoco 4.x to 3.3.0 in place leaves mujoco-core/mujoco-studio 4.x behind and
# breaks `import mujoco` (shared FACTS). A build takes about 80 s and 1.8 GB (torch is most of it);
# a rerun with a matching stamp only re-runs the smoke test (about 10 s).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$REPO/.venv-sbx"
PYTHON="${PYTHON:-python3}"

DEPS=(
  "sbx-rl==0.28.0" "stable-baselines3==2.9.2" "torch==2.13.0"
  "jax==0.10.2" "jaxlib==0.10.2" "flax==0.12.8" "optax==0.2.8" "numpy==2.4.6"
  "tfp-nightly==0.26.0.dev20261027"
  "gymnasium[mujoco]==1.4.0" "mujoco==3.3.0" "imageio==2.38.1"
  "tqdm==4.70.1" "rich==15.0.0"
)
STAMP="$VENV/.setup_stamp"
STAMP_CONTENT="${DEPS[*]}"

t0=$(date +%s.%N)

if [[ "${FORCE:-0}" == "1" || ! -f "$STAMP" || "$(cat "$STAMP")" != "$STAMP_CONTENT" ]]; then
  if [[ -e "$VENV" ]]; then
    echo "[setup_sbx] stamp missing or different (or FORCE=1): deleting $VENV"
    rm -rf "$VENV"
  fi
  echo "[setup_sbx] creating venv $VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -c 'import sys; assert sys.version_info[:2] >= (3, 10), sys.version' \
    || { echo "[setup_sbx] venv python too old (sbx-rl needs >= 3.10)" >&2; exit 1; }
  echo "[setup_sbx] installing ${DEPS[*]}"
  # (grep drops pip's warnings about absent local index folders configured on some machines)
  "$VENV/bin/python" -m pip install --quiet "${DEPS[@]}" 2>&1 | { grep -v '^WARNING: Location' || true; }
  printf '%s' "$STAMP_CONTENT" > "$STAMP"
else
  echo "[setup_sbx] packages already installed (stamp matches; FORCE=1 to rebuild)"
fi

# Smoke test (always): every pin holds, torch is the CPU build, no TensorFlow sneaked in, SBX's SAC
# imports, and HalfCheetah-v5 builds and steps on mujoco 3.3.0.
"$VENV/bin/python" -W ignore - "${DEPS[@]}" <<'EOF'
import importlib.metadata as md
import importlib.util
import os
import re
import sys

os.environ.setdefault("JAX_PLATFORMS", "cpu")
bad = []
for req in sys.argv[1:]:
    name, want = req.split("==")
    name = re.sub(r"\[.*\]", "", name)  # gymnasium[mujoco] -> gymnasium
    try:
        have = md.version(name)
    except md.PackageNotFoundError:
        have = None
    if have is None or have.split("+")[0] != want:  # torch reports 2.13.0+cpu
        bad.append(f"{name}: want {want}, have {have}")
if bad:
    sys.exit("[setup_sbx] ERROR: pins not satisfied:\n  " + "\n  ".join(bad))
if importlib.util.find_spec("tensorflow") is not None:
    sys.exit("[setup_sbx] ERROR: TensorFlow got installed; SBX only needs tfp-nightly's JAX substrate")

import torch
assert torch.version.cuda is None, f"CUDA torch installed: {torch.version.cuda}"
import gymnasium as gym
import jax
import mujoco
import sbx
from sbx import SAC  # noqa: F401

env = gym.make("HalfCheetah-v5")
env.reset(seed=0)
env.step(env.action_space.sample())
env.close()
print(f"[setup_sbx] OK: sbx-rl {md.version('sbx-rl')}, stable-baselines3 {md.version('stable-baselines3')}, "
      f"torch {torch.__version__}, jax {jax.__version__}, flax {md.version('flax')}, "
      f"optax {md.version('optax')}, tfp-nightly {md.version('tfp-nightly')}, "
      f"gymnasium {gym.__version__}, mujoco {mujoco.__version__}, numpy {md.version('numpy')}")
EOF

t1=$(date +%s.%N)
printf '[setup_sbx] done in %.1f s; venv size %s\n' "$(echo "$t1 - $t0" | bc)" "$(du -sh "$VENV" | cut -f1)"
