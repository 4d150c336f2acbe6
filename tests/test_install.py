"""The install stays free of TensorFlow and torch (tensorboard and tensorboardX need neither)."""

import importlib.metadata

import pytest

FORBIDDEN = ('tensorflow', 'tensorflow-cpu', 'tf-nightly', 'torch', 'torchvision', 'torchaudio')


@pytest.mark.parametrize('distribution', FORBIDDEN)
def test_forbidden_framework_is_not_installed(distribution):
  with pytest.raises(importlib.metadata.PackageNotFoundError):
    importlib.metadata.distribution(distribution)
