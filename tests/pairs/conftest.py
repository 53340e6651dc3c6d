import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest
import torch

from jepakit import plugins as plugmod

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def only_pairs(monkeypatch):
    """Load the pairs plugin alone (other plugins in the checkout may be half-built)."""
    monkeypatch.setenv(plugmod.ENV_VAR, "pairs")
    plugmod.reset()
    yield
    plugmod.reset()


@pytest.fixture(scope="session")
def small_bundle():
    from jepakit_pairs.data import load

    return load(n_pretrain=96, n_train=48, n_test=48, seed=3)
