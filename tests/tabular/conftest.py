import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pandas as pd
import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture
def mixed_frame() -> pd.DataFrame:
    """A small mixed table: numeric with gaps, a categorical, a constant, a label."""
    rng = np.random.default_rng(0)
    n = 120
    x = rng.standard_normal(n)
    colour = rng.choice(["red", "green", "blue"], n)
    y = np.where(x + (colour == "red") > 0.3, "yes", "no")
    age = rng.uniform(20, 70, n)
    age[::7] = np.nan
    return pd.DataFrame({
        "x": x, "age": age, "colour": colour, "const": 5.0, "count": rng.integers(0, 9, n), "label": y,
    })
