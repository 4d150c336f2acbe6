#!/usr/bin/env bash
# Set up Dopamine 4.1.2 (dopamine-rl, Google) as a speed peer, in its own venv, without committing
# any Dopamine code.
#
#   bash benchmarks/peers/setup_dopamine.sh          # idempotent; FORCE=1 to reinstall packages
#   .venv-dopamine/bin/python benchmarks/peers/run_dopamine_rainbow.py --help
#
# Creates   <repo>/.venv-dopamine    (separate venv; ignored by git through `.venv-*/`)
#
# Approach: "Dopamine as published". dopamine-rl 4.1.2 was released on 2024-10-31; its wheel
# declares only lower bounds (jax>=0.1.72, flax>=0.2.0, tensorflow>=2.2.0, ...), so a plain
# `pip install dopamine-rl==4.1.2` today resolves 2026 versions that it does not work with.
# Instead the packages it imports are pinned to the releases of its own era, which is where it
# works unmodified (no source patch to Dopamine's agents, networks or replay buffer):
#
#   jax==0.4.35, jaxlib==0.4.35 (2024-10-22)
#       Dopamine's jax/networks.py does `from tensorflow_probability.substrates import jax as tfp`
#       at import time (used only by its PPO networks), and tensorflow-probability's JAX substrate
#       uses `jax.interpreters.xla.pytype_aval_mappings`, removed in jax 0.7. With jax >= 0.7 no
#       Dopamine JAX agent imports. jax 0.4.35 is the jax of Dopamine 4.1.2's release month.
#   flax==0.10.1, optax==0.2.3
#       The flax/optax of that time, compatible with jax 0.4.35 (newer flax requires newer jax).
#   tensorflow-probability==0.25.0, tensorflow-cpu==2.18.0, tf-keras==2.18.0
#       tfp 0.25 is the release built against TF 2.18 (the TF of late 2024). Dopamine imports
#       TensorFlow in every agent and in atari_lib (tf.summary, tf.uint8, tf.io.gfile), so TF is
#       needed even for the JAX agents. tensorflow-cpu instead of tensorflow: same Python package
#       (`import tensorflow`), no GPU kernels, a much smaller install. Because the distribution
#       names differ, dopamine-rl and tf-keras (both declare `tensorflow`) are installed with
#       --no-deps (else pip also pulls the full `tensorflow` into the same `tensorflow/` folder),
#       and dopamine-rl's declared dependencies are installed explicitly below. tf-keras is
#       declared by dopamine-rl but not imported on the JAX Rainbow path.
#   numpy==2.0.2
#       TF 2.18 requires numpy < 2.1.
#   gymnasium==1.0.0, ale-py==0.10.1
#       Dopamine 4.1.2 declares gymnasium>=1.0.0 and ale_py>=0.10.1 (the first ale-py that ships
#       the ROMs in its wheel); these are the versions it was released against.
#   gym==0.25.2
#       atari_lib does `import gym as legacy_gym` (declared as gym<=0.25.2); only used with
#       use_legacy_gym=True, but imported unconditionally.
#   opencv-python-headless (instead of the declared opencv-python)
#       Same `cv2` module without the GUI/X11 libraries; Dopamine only uses cv2.resize.
#   gin-config, absl-py, Pillow, pygame, pandas, python-snappy, tf-slim, tqdm
#       The remaining declared dependencies of dopamine-rl 4.1.2, at their late-2024 releases.
#
# Not installed: `baselines` (OpenAI). atari_lib does `from baselines.common import atari_wrappers`
# at import time, but dopamine-rl does not declare it, and the only PyPI release (baselines 0.1.5,
# 2018) pins TF1-era packages. atari_wrappers is used only with use_ppo_preprocessing=True (PPO);
# run_dopamine_rainbow.py therefore registers an empty stand-in module for
# `baselines.common.atari_wrappers` in sys.modules before importing Dopamine (any attribute access
# on it raises), and only if the real `baselines` is not importable.
#
# No source patches are applied to the installed Dopamine package. The setup ends with an import
# smoke test (and a version check of each pin) that fails loudly if anything above stops holding.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$REPO/.venv-dopamine"
PYTHON="${PYTHON:-python3}"

DOPAMINE_REQ="dopamine-rl==4.1.2"
DEPS=(
  "jax==0.4.35" "jaxlib==0.4.35" "flax==0.10.1" "optax==0.2.3"
  "tensorflow-cpu==2.18.0" "tensorflow-probability==0.25.0"
  "numpy==2.0.2"
  "gymnasium==1.0.0" "ale-py==0.10.1" "gym==0.25.2"
  "opencv-python-headless==4.10.0.84"
  "gin-config==0.5.0" "absl-py==2.1.0" "Pillow==11.0.0" "pygame==2.6.1" "pandas==2.2.3"
  "python-snappy==0.7.3" "tf-slim==1.1.0" "tqdm==4.67.0"
)
# Installed with --no-deps: both declare a dependency on the full `tensorflow` distribution.
NODEPS=("tf-keras==2.18.0" "$DOPAMINE_REQ")
STAMP="$VENV/.setup_stamp"
STAMP_CONTENT="${NODEPS[*]} ${DEPS[*]}"

t0=$(date +%s.%N)

if [[ ! -x "$VENV/bin/python" ]]; then
  echo "[setup_dopamine] creating venv $VENV"
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -c 'import sys; assert sys.version_info[:2] >= (3, 9), sys.version' \
  || { echo "[setup_dopamine] venv python too old" >&2; exit 1; }

if [[ "${FORCE:-0}" != "1" && -f "$STAMP" && "$(cat "$STAMP")" == "$STAMP_CONTENT" ]]; then
  echo "[setup_dopamine] packages already installed (stamp matches; FORCE=1 to reinstall)"
else
  rm -f "$STAMP"
  echo "[setup_dopamine] installing ${DEPS[*]}"
  # (grep drops pip's warnings about absent local index folders configured on some machines)
  "$VENV/bin/python" -m pip install --quiet "${DEPS[@]}" 2>&1 | { grep -v '^WARNING: Location' || true; }
  echo "[setup_dopamine] installing ${NODEPS[*]} with --no-deps"
  "$VENV/bin/python" -m pip install --quiet --no-deps "${NODEPS[@]}" 2>&1 | { grep -v '^WARNING: Location' || true; }
  # Guard: the full `tensorflow` distribution must not be there (it would share the `tensorflow/`
  # folder with tensorflow-cpu, so it cannot simply be uninstalled: delete the venv instead).
  if "$VENV/bin/python" -m pip show --quiet tensorflow >/dev/null 2>&1; then
    echo "[setup_dopamine] ERROR: full 'tensorflow' is installed (expected tensorflow-cpu only);" \
      "rm -rf $VENV and rerun" >&2
    exit 1
  fi
  printf '%s' "$STAMP_CONTENT" > "$STAMP"
fi

# Smoke test (always): the pins hold, and Dopamine's JAX full Rainbow agent, its network and its
# Atari environment module import with the baselines stand-in that the runner uses.
"$VENV/bin/python" -W ignore - "${DEPS[@]}" "${NODEPS[@]}" <<'EOF'
import importlib.metadata as md
import os
import sys
import types

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
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
    sys.modules["baselines"].common = sys.modules["baselines.common"]
    sys.modules["baselines.common"].atari_wrappers = sys.modules["baselines.common.atari_wrappers"]

import jax
from dopamine.discrete_domains import atari_lib  # noqa: F401
from dopamine.jax.agents.full_rainbow import full_rainbow_agent
assert hasattr(full_rainbow_agent, "JaxFullRainbowAgent")
print(f"[setup_dopamine] OK: dopamine-rl {md.version('dopamine-rl')}, jax {jax.__version__}, "
      f"flax {md.version('flax')}, tensorflow-cpu {md.version('tensorflow-cpu')}, "
      f"tfp {md.version('tensorflow-probability')}, gymnasium {md.version('gymnasium')}, "
      f"ale-py {md.version('ale-py')}, numpy {md.version('numpy')}")
EOF

t1=$(date +%s.%N)
printf '[setup_dopamine] done in %.1f s; venv size %s\n' "$(echo "$t1 - $t0" | bc)" "$(du -sh "$VENV" | cut -f1)"
