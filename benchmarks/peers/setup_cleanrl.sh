#!/usr/bin/env bash
# Set up CleanRL 1.2.0 as a speed peer, in its own venv, without committing any CleanRL code.
#
#   bash benchmarks/peers/setup_cleanrl.sh          # idempotent; FORCE=1 to reinstall packages
#
# Creates   <repo>/.venv-cleanrl                              (separate venv; keep it out of git)
# Writes    <repo>/.venv-cleanrl/dqn_jax_gymnasium1.py        (patched copy of cleanrl's dqn_jax.py)
#           <repo>/.venv-cleanrl/dqn_atari_jax_gymnasium1.py  (patched copy of cleanrl's dqn_atari_jax.py)
# Runners   benchmarks/peers/run_cleanrl_dqn.py (CartPole), benchmarks/peers/run_cleanrl_dqn_atari.py (Pong)
#
# Why the install is done by hand: cleanrl==1.2.0's wheel says Requires-Python <3.11 and pins 2023
# versions (jax<0.4, flax<0.7, gym 0.23, ...), so it is installed with --no-deps and the packages
# the two scripts really import are installed separately, pinned to the versions that resolve
# together on this machine (see shared FACTS). torch==2.13.0 resolves to the local CPU wheel in
# /opt/wheels (2.13.0+cpu); any other torch version pulls GBs of CUDA wheels. torch is only used by
# CleanRL for torch.utils.tensorboard.SummaryWriter and by SB3's ReplayBuffer. ale-py ships the
# Atari ROMs in its wheel (no download); opencv is needed by gymnasium's ResizeObservation and
# SB3's Atari wrappers.
#
# Patches (plain exact-string replacements; each pattern must match exactly once, else setup fails):
#   Both scripts, for gymnasium 1.x vector envs:
#   1. gym.vector.SyncVectorEnv(..., autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
#      (gymnasium 1.x defaults to NEXT_STEP autoreset; the scripts assume same-step autoreset)
#   2. infos["final_observation"] -> infos["final_obs"]
#   3. infos["final_info"] is a dict of arrays (with "_episode" mask), not a list of per-env dicts:
#      the episode-logging loop iterates over the envs whose "_episode" mask is set.
#   dqn_atari_jax.py only, for gymnasium 1.x / ale-py 0.12:
#   4. `import ale_py` + `gym.register_envs(ale_py)`: the ALE ids (PongNoFrameskip-v4, ALE/Pong-v5)
#      are registered only when ale_py is imported.
#   5. gym.wrappers.GrayScaleObservation -> gym.wrappers.GrayscaleObservation (renamed in 1.0)
#   6. gym.wrappers.FrameStack(env, 4) -> gym.wrappers.FrameStackObservation(env, 4) (renamed in
#      1.0; returns a plain (4, 84, 84) uint8 array instead of LazyFrames, same reset padding).
# Algorithm and hyperparameters are untouched. Note that dqn_atari_jax.py's default --buffer-size
# of 1M frame stacks (26.3 GiB) does not fit in 24 GiB: the runner passes a smaller one.
# No further changes were needed for jax 0.10.2 / flax 0.12.8 / optax 0.2.8 / gymnasium 1.4.0 /
# ale-py 0.12.1 / numpy 2.4.6 / stable-baselines3 2.9.2 / torch 2.13.0 on Python 3.11 (`from
# distutils.util import strtobool` still works on 3.11 with a DeprecationWarning; it would need a
# change on Python 3.12+).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$REPO/.venv-cleanrl"
PYTHON="${PYTHON:-python3}"

CLEANRL_REQ="cleanrl==1.2.0"
DEPS=(
  "jax==0.10.2" "jaxlib==0.10.2" "flax==0.12.8" "optax==0.2.8"
  "gymnasium==1.4.0" "numpy==2.4.6" "tensorboard==2.21.0"
  "stable-baselines3==2.9.2" "torch==2.13.0"
  "ale-py==0.12.1" "opencv-python-headless==5.0.0.93"
)
STAMP="$VENV/.setup_stamp"
STAMP_CONTENT="$CLEANRL_REQ ${DEPS[*]}"

t0=$(date +%s.%N)

if [[ ! -x "$VENV/bin/python" ]]; then
  echo "[setup_cleanrl] creating venv $VENV"
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -c 'import sys; assert sys.version_info[:2] >= (3, 10), sys.version' \
  || { echo "[setup_cleanrl] venv python too old" >&2; exit 1; }

if [[ "${FORCE:-0}" != "1" && -f "$STAMP" && "$(cat "$STAMP")" == "$STAMP_CONTENT" ]]; then
  echo "[setup_cleanrl] packages already installed (stamp matches; FORCE=1 to reinstall)"
else
  echo "[setup_cleanrl] installing $CLEANRL_REQ (--no-deps) and ${DEPS[*]}"
  "$VENV/bin/python" -m pip install --quiet --no-deps --ignore-requires-python "$CLEANRL_REQ"
  # pip then reports cleanrl's unmet 2023 pins (gym, wandb, sb3==1.2.0, ...) as conflicts: expected.
  "$VENV/bin/python" -m pip install --quiet "${DEPS[@]}"
  # Guard against a CUDA torch sneaking in.
  "$VENV/bin/python" - <<'EOF'
import torch
assert torch.__version__.startswith("2.13.0"), torch.__version__
assert torch.version.cuda is None, f"CUDA torch installed: {torch.version.cuda}"
EOF
  printf '%s' "$STAMP_CONTENT" > "$STAMP"
fi

# Always (re)write the patched copies from the installed files (cheap, keeps them in sync).
"$VENV/bin/python" - "$VENV" <<'EOF'
import importlib.util, pathlib, sys

# cleanrl is a namespace package (no __init__.py): locate it through its spec.
spec = importlib.util.find_spec("cleanrl")
if spec is None or not spec.submodule_search_locations:
    sys.exit("[setup_cleanrl] cleanrl is not installed in this venv")
CLEANRL_DIR = pathlib.Path(list(spec.submodule_search_locations)[0])
OUT_DIR = pathlib.Path(sys.argv[1])


def write_patched(src_name, out_name, patches):
    """Apply (name, old, new) exact-match patches to cleanrl/<src_name>; write OUT_DIR/<out_name>."""
    src_path = CLEANRL_DIR / src_name
    src = src_path.read_text()
    for name, old, new in patches:
        n = src.count(old)
        if n != 1:
            sys.exit(f"[setup_cleanrl] PATCH '{name}' FAILED: pattern found {n} times in {src_path}:\n{old}")
        src = src.replace(old, new)
    header = (
        f"# GENERATED by benchmarks/peers/setup_cleanrl.sh from {src_path}\n"
        "# (cleanrl 1.2.0, patched for gymnasium 1.x). Do not edit; do not commit.\n"
    )
    out = OUT_DIR / out_name
    out.write_text(header + src)
    compile(out.read_text(), str(out), "exec")
    print(f"[setup_cleanrl] wrote {out} ({len(patches)} patches)")


# Patches 1-3: gymnasium 1.x vector-env API; the code they match is identical in both scripts.
GYMNASIUM1_VECTOR_PATCHES = [
    (
        "1. same-step autoreset, as in gymnasium 0.29",
        """    envs = gym.vector.SyncVectorEnv(
        [make_env(args.env_id, args.seed + i, i, args.capture_video, run_name) for i in range(args.num_envs)]
    )
""",
        """    envs = gym.vector.SyncVectorEnv(
        [make_env(args.env_id, args.seed + i, i, args.capture_video, run_name) for i in range(args.num_envs)],
        autoreset_mode=gym.vector.AutoresetMode.SAME_STEP,
    )
""",
    ),
    (
        "2. final_observation -> final_obs",
        """real_next_obs[idx] = infos["final_observation"][idx]""",
        """real_next_obs[idx] = infos["final_obs"][idx]""",
    ),
    (
        "3. final_info is a dict of arrays with an _episode mask",
        """        if "final_info" in infos:
            for info in infos["final_info"]:
                # Skip the envs that are not done
                if "episode" not in info:
                    continue
                print(f"global_step={global_step}, episodic_return={info['episode']['r']}")
                writer.add_scalar("charts/episodic_return", info["episode"]["r"], global_step)
                writer.add_scalar("charts/episodic_length", info["episode"]["l"], global_step)
                writer.add_scalar("charts/epsilon", epsilon, global_step)
""",
        """        if "final_info" in infos and "episode" in infos["final_info"]:
            final_info = infos["final_info"]
            for idx in np.flatnonzero(final_info["_episode"]):
                ep_r, ep_l = final_info["episode"]["r"][idx], final_info["episode"]["l"][idx]
                print(f"global_step={global_step}, episodic_return={ep_r}")
                writer.add_scalar("charts/episodic_return", ep_r, global_step)
                writer.add_scalar("charts/episodic_length", ep_l, global_step)
                writer.add_scalar("charts/epsilon", epsilon, global_step)
""",
    ),
]

# Patches 4-6: ale-py 0.12 registration and the wrappers renamed in gymnasium 1.0.
ATARI_PATCHES = [
    (
        "4. register the ALE envs",
        "import gymnasium as gym\n",
        "import gymnasium as gym\nimport ale_py\n\ngym.register_envs(ale_py)  # ALE ids exist only once ale_py is imported\n",
    ),
    (
        "5. GrayScaleObservation -> GrayscaleObservation",
        "        env = gym.wrappers.GrayScaleObservation(env)\n",
        "        env = gym.wrappers.GrayscaleObservation(env)\n",
    ),
    (
        "6. FrameStack -> FrameStackObservation",
        "        env = gym.wrappers.FrameStack(env, 4)\n",
        "        env = gym.wrappers.FrameStackObservation(env, 4)\n",
    ),
]

write_patched("dqn_jax.py", "dqn_jax_gymnasium1.py", GYMNASIUM1_VECTOR_PATCHES)
write_patched("dqn_atari_jax.py", "dqn_atari_jax_gymnasium1.py", GYMNASIUM1_VECTOR_PATCHES + ATARI_PATCHES)
EOF

# Smoke check: every module the patched scripts import is importable, and Pong builds from the
# ROM shipped in ale-py's wheel.
"$VENV/bin/python" -W ignore -c '
import ale_py, cv2, flax, flax.linen, gymnasium, jax, numpy, optax, stable_baselines3, torch
from flax.training.train_state import TrainState
from stable_baselines3.common.atari_wrappers import ClipRewardEnv, EpisodicLifeEnv, FireResetEnv, MaxAndSkipEnv, NoopResetEnv
from stable_baselines3.common.buffers import ReplayBuffer
from torch.utils.tensorboard import SummaryWriter
from distutils.util import strtobool
gymnasium.register_envs(ale_py)
gymnasium.make("PongNoFrameskip-v4").close()
print("[setup_cleanrl] versions: jax", jax.__version__, "flax", flax.__version__, "optax", optax.__version__,
      "gymnasium", gymnasium.__version__, "ale-py", ale_py.__version__, "opencv", cv2.__version__,
      "numpy", numpy.__version__, "sb3", stable_baselines3.__version__, "torch", torch.__version__)
'

t1=$(date +%s.%N)
printf '[setup_cleanrl] done in %.1f s\n' "$(echo "$t1 - $t0" | bc)"
