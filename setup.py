"""Install script for the agent zoo: core dependencies plus one extra per optional domain."""

import setuptools

CORE = [
    'jax>=0.10.2',
    'flax>=0.12.8',
    'optax>=0.2.8',
    'gin-config>=0.5.0',
    'gymnasium>=1.4.0',
    'numpy>=2.0',
    'orbax-checkpoint>=0.12.8',
    'tensorboard>=2.21.0',  # EventAccumulator for reading runs back; no TensorFlow needed
    'tensorboardX>=2.6.5',  # writes event files without TensorFlow
    'absl-py>=2.0',
    'tqdm>=4.66',
    'matplotlib>=3.8',
    'scipy>=1.11',  # distances between return distributions (offline/dsm/evaluation.py)
]

EXTRAS = {
    # gymnasium's AtariPreprocessing resizes frames with OpenCV (INTER_AREA, as Dopamine).
    'atari': ['ale-py>=0.12.1', 'opencv-python-headless>=4.9'],
    'minatar': ['minatar>=1.0.15'],
    # metaworld 3.1.1 pins mujoco==3.3.0; gymnasium's MuJoCo tasks and PointMaze work on it too.
    'mujoco': ['gymnasium[mujoco]>=1.4.0', 'mujoco==3.3.0', 'gymnasium-robotics>=1.4.0'],
    'metaworld': ['metaworld>=3.1.1', 'mujoco==3.3.0'],
    # Minari's HDF5 storage: h5py is a 5 MB wheel (pyarrow about 40 MB) and reads each episode's
    # arrays whole, where Minari's Arrow reader stacks Box rows one by one.
    'offline': ['minari[hdf5]>=0.5.0'],
    'sweep': ['ray[default]>=2.40'],
    # pytest-xdist: `make test` runs the suite on TEST_WORKERS processes (see the Makefile).
    'dev': ['pytest>=8.0', 'pytest-timeout>=2.3', 'pytest-xdist>=3.5'],
}
EXTRAS['all'] = sorted({dep for deps in EXTRAS.values() for dep in deps})

setuptools.setup(
    name='agent-zoo',
    version='0.1.0',
    description='A Dopamine-style, gin-configured zoo of RL agents in JAX/Flax/Optax.',
    python_requires='>=3.11',
    packages=setuptools.find_packages(
        include=['runner', 'runner.*', 'agents', 'agents.*', 'discrete_domains',
                 'discrete_domains.*', 'continuous_domains', 'continuous_domains.*',
                 'offline', 'offline.*', 'gin_configs', 'gin_configs.*']),
    package_data={'gin_configs': ['*.gin', '**/*.gin'],
                  # Dopamine's baseline curves, runner.report's default --baselines_dir.
                  'runner.report': ['dopamine_baselines/*.json', 'dopamine_baselines/README.md']},
    install_requires=CORE,
    extras_require=EXTRAS,
)
