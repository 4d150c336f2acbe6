#!/usr/bin/env bash
# Set up Dopamine 4.1.2 (dopamine-rl, Google) as a speed peer, in its own venv, without committing
# any Dopamine code and without patching its source.
#
#   bash benchmarks/peers/setup_dopamine.sh                  # default stack "current"; idempotent
#   DOPAMINE_STACK=era bash benchmarks/peers/setup_dopamine.sh   # Dopamine's 2024 stack instead
#   FORCE=1 bash benchmarks/peers/setup_dopamine.sh          # rebuild the venv from scratch
#   python3 benchmarks/peers/run_dopamine_rainbow.py --help  # then run the peer (see that file)
#
# Creates <repo>/.venv-dopamine (ignored by git through `.venv-*/`). A stamp file records the
# stack and the pins; when it does not match (other stack, changed pins, FORCE=1, or an
# interrupted install) the venv is deleted and rebuilt, since tensorflow and tensorflow-cpu share
# one `tensorflow/` folder and cannot be swapped in place. A full build takes about 2 minutes and
# 2.3-2.5 GB; a rerun with a matching stamp only re-checks the imports (about 10 s).
#
# Why not `pip install dopamine-rl==4.1.2`: its wheel declares only lower bounds (jax>=0.1.72,
# flax>=0.2.0, tensorflow>=2.2.0, tensorflow-probability>=0.13.0, ...), so today pip resolves
# TensorFlow 2.21 (the full GPU-capable wheel), tensorflow-probability 0.25 and jax 0.10, and then
# no Dopamine JAX agent imports: dopamine/jax/networks.py does
# `from tensorflow_probability.substrates import jax as tfp` at import time (for its PPO networks
# only) and tensorflow-probability 0.25's JAX substrate uses
# `jax.interpreters.xla.pytype_aval_mappings`, removed in jax 0.7. So dopamine-rl is installed with
# --no-deps and the packages it imports are installed explicitly, pinned, in one of two stacks:
#
# DOPAMINE_STACK=current (default): the project's own numerical stack, for a like-for-like speed
# comparison (the same XLA compiles both libraries' networks):
#   jax/jaxlib 0.10.2, flax 0.12.8, optax 0.2.8, numpy 2.4.6, gymnasium 1.4.0, ale-py 0.12.1,
#   gin-config 0.5.0, opencv-python-headless 5.0.0.93   (= the versions in shared FACTS)
#   tfp-nightly==0.26.0.dev20261027 instead of tensorflow-probability 0.25: same
#       `tensorflow_probability` package; its JAX substrate only touches pytype_aval_mappings
#       when jax still has it, so Dopamine imports unmodified on jax 0.10.
#   tensorflow-cpu==2.21.0, tf-keras==2.21.0: the TF that matches; see below for why TF at all.
#   tensorboard==2.21.0: TF 2.21 no longer depends on it, but dopamine.discrete_domains.run_experiment
#       (imported by Dopamine's own full_rainbow.gin, see run_dopamine_rainbow.py --gin-file)
#       imports it; the era stack gets it through TF 2.18.
# Why this is the default: on this 2-core CPU, Dopamine's own Rainbow update (batch 32) takes about
# 2x longer under the era stack's jax 0.4.35 than under jax 0.10.2 (measured with a micro-benchmark
# of agent._training_step_update, on a shared, noisy machine: roughly 180 ms vs 90-120 ms), i.e. the
# era stack mostly measures 2024's XLA, not Dopamine.
#
# DOPAMINE_STACK=era: "Dopamine as published", the releases of its own era (dopamine-rl 4.1.2 was
# released on 2024-10-31), where it works without any substitution:
#   jax/jaxlib 0.4.35 (2024-10-22), flax 0.10.1, optax 0.2.3: compatible with each other and with
#       tensorflow-probability 0.25's JAX substrate (jax < 0.7).
#   tensorflow-probability 0.25.0, tensorflow-cpu 2.18.0, tf-keras 2.18.0: tfp 0.25 is the release
#       built against TF 2.18 (late 2024). numpy 2.0.2: TF 2.18 requires numpy < 2.1.
#   gymnasium 1.0.0, ale-py 0.10.1: the versions dopamine-rl 4.1.2 declares as minimums (ale-py
#       0.10 is the first that ships the ROMs in its wheel).
#
# Common to both stacks:
#   tensorflow-cpu instead of the declared `tensorflow`: the same `import tensorflow` without GPU
#       kernels, a much smaller install. Dopamine imports TF in every agent and in atari_lib
#       (tf.summary, tf.uint8, tf.keras.Model subclasses at import time), so TF is needed even for
#       the JAX agents. Because the distribution names differ, dopamine-rl and tf-keras (both
#       declare `tensorflow`) are installed with --no-deps; otherwise pip also pulls the full
#       `tensorflow` into the same folder. tf-keras is declared by dopamine-rl but not imported on
#       the JAX Rainbow path.
#   gym==0.25.2: atari_lib does `import gym as legacy_gym` unconditionally (declared gym<=0.25.2;
#       only used with use_legacy_gym=True). It prints an "unmaintained" notice on import.
#   opencv-python-headless instead of the declared opencv-python: the same `cv2` without the GUI/X11
#       libraries; Dopamine only uses cv2.resize.
#   absl-py, Pillow, pygame, pandas, python-snappy, tf-slim, tqdm: the rest of dopamine-rl's
#       declared dependencies, pinned to what pip resolved for the stack.
#
# Not installed: `baselines` (OpenAI). atari_lib does `from baselines.common import atari_wrappers`
# at import time, but dopamine-rl does not declare it and its only PyPI release (0.1.5, 2018) pins
# TF1-era packages. atari_wrappers is only used with use_ppo_preprocessing=True (PPO), so
# run_dopamine_rainbow.py registers an empty stand-in module for `baselines.common.atari_wrappers`
# in sys.modules before importing Dopamine, only if the real one is not importable (any attribute
# access on the stand-in raises). That is the only thing done around Dopamine; no file of the
# installed package is changed. The setup ends with a smoke test (pins hold, the agent imports)
# that fails loudly if any of this stops being true.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$REPO/.venv-dopamine"
PYTHON="${PYTHON:-python3}"
STACK="${DOPAMINE_STACK:-current}"

DOPAMINE_REQ="dopamine-rl==4.1.2"
case "$STACK" in
  current)
    DEPS=(
      "jax==0.10.2" "jaxlib==0.10.2" "flax==0.12.8" "optax==0.2.8" "numpy==2.4.6"
      "tensorflow-cpu==2.21.0" "tfp-nightly==0.26.0.dev20261027"
      "gymnasium==1.4.0" "ale-py==0.12.1" "gym==0.25.2"
      "opencv-python-headless==5.0.0.93" "gin-config==0.5.0"
      "absl-py==2.5.1" "Pillow==13.0.0" "pygame==2.6.1" "pandas==3.1.1"
      "python-snappy==0.7.3" "tf-slim==1.1.0" "tqdm==4.70.1" "tensorboard==2.21.0"
    )
    NODEPS=("tf-keras==2.21.0" "$DOPAMINE_REQ")
    ;;
  era)
    DEPS=(
      "jax==0.4.35" "jaxlib==0.4.35" "flax==0.10.1" "optax==0.2.3" "numpy==2.0.2"
      "tensorflow-cpu==2.18.0" "tensorflow-probability==0.25.0"
      "gymnasium==1.0.0" "ale-py==0.10.1" "gym==0.25.2"
      "opencv-python-headless==4.10.0.84" "gin-config==0.5.0"
      "absl-py==2.1.0" "Pillow==11.0.0" "pygame==2.6.1" "pandas==2.2.3"
      "python-snappy==0.7.3" "tf-slim==1.1.0" "tqdm==4.67.0"
    )
    NODEPS=("tf-keras==2.18.0" "$DOPAMINE_REQ")
    ;;
  *)
    echo "[setup_dopamine] unknown DOPAMINE_STACK=$STACK (expected 'current' or 'era')" >&2
    exit 2
    ;;
esac
STAMP="$VENV/.setup_stamp"
STAMP_CONTENT="stack=$STACK ${NODEPS[*]} ${DEPS[*]}"

t0=$(date +%s.%N)

if [[ "${FORCE:-0}" == "1" || ! -f "$STAMP" || "$(cat "$STAMP")" != "$STAMP_CONTENT" ]]; then
  if [[ -e "$VENV" ]]; then
    echo "[setup_dopamine] stamp missing or different (or FORCE=1): deleting $VENV"
    rm -rf "$VENV"
  fi
  echo "[setup_dopamine] creating venv $VENV (stack: $STACK)"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -c 'import sys; assert sys.version_info[:2] >= (3, 10), sys.version' \
    || { echo "[setup_dopamine] venv python too old" >&2; exit 1; }
  echo "[setup_dopamine] installing ${DEPS[*]}"
  # (grep drops pip's warnings about absent local index folders configured on some machines)
  "$VENV/bin/python" -m pip install --quiet "${DEPS[@]}" 2>&1 | { grep -v '^WARNING: Location' || true; }
  echo "[setup_dopamine] installing ${NODEPS[*]} with --no-deps"
  "$VENV/bin/python" -m pip install --quiet --no-deps "${NODEPS[@]}" 2>&1 | { grep -v '^WARNING: Location' || true; }
  if "$VENV/bin/python" -m pip show --quiet tensorflow >/dev/null 2>&1; then
    echo "[setup_dopamine] ERROR: the full 'tensorflow' distribution got installed (expected" \
      "tensorflow-cpu only)" >&2
    exit 1
  fi
  printf '%s' "$STAMP_CONTENT" > "$STAMP"
else
  echo "[setup_dopamine] packages already installed (stack: $STACK; stamp matches; FORCE=1 to rebuild)"
fi

# Smoke test (always): the pins hold, and Dopamine's JAX full Rainbow agent and its Atari
# environment module import, with the same baselines stand-in that the runner uses.
"$VENV/bin/python" -W ignore - "${DEPS[@]}" "${NODEPS[@]}" <<'EOF' 2> >(grep -v "^Gym has been\|^Please upgrade\|^See the migration" >&2)
import importlib.metadata as md
import os
import sys
import types

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
bad = []
for req in sys.argv[1:]:
    name, want = req.split("==")
    try:
        have = md.version(name)
    except md.PackageNotFoundError:
        have = None
    if have != want:
        bad.append(f"{name}: want {want}, have {have}")
if bad:
    sys.exit("[setup_dopamine] ERROR: pins not satisfied:\n  " + "\n  ".join(bad))

try:
    import baselines.common.atari_wrappers  # noqa: F401
except ImportError:
    for name in ("baselines", "baselines.common", "baselines.common.atari_wrappers"):
        sys.modules[name] = types.ModuleType(name)

import jax
from dopamine.discrete_domains import atari_lib  # noqa: F401
from dopamine.jax.agents.full_rainbow import full_rainbow_agent
assert hasattr(full_rainbow_agent, "JaxFullRainbowAgent")
tfp_dist = "tfp-nightly" if any(r.startswith("tfp-nightly") for r in sys.argv[1:]) else "tensorflow-probability"
print(f"[setup_dopamine] OK: dopamine-rl {md.version('dopamine-rl')}, jax {jax.__version__}, "
      f"flax {md.version('flax')}, optax {md.version('optax')}, tensorflow-cpu {md.version('tensorflow-cpu')}, "
      f"{tfp_dist} {md.version(tfp_dist)}, gymnasium {md.version('gymnasium')}, "
      f"ale-py {md.version('ale-py')}, numpy {md.version('numpy')}")
EOF

t1=$(date +%s.%N)
printf '[setup_dopamine] done in %.1f s; venv size %s\n' "$(echo "$t1 - $t0" | bc)" "$(du -sh "$VENV" | cut -f1)"
