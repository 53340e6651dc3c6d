"""What every end-to-end test checks after pretraining on messy files."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from jepakit.bench import run_evaluate


def trained_and_evaluated(run, steps: int):
    """``run`` took ``steps`` finite steps; its checkpoint evaluates (notices hushed: the
    tests check them where the files are read). Returns the evaluation."""
    losses = [h["loss"] for h in run.history]
    assert len(losses) == steps and np.isfinite(losses).all()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run_evaluate(run.out, echo=False)


@pytest.fixture
def evaluated():
    return trained_and_evaluated
