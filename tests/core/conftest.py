"""A tiny in-test domain, registered through the public contract with nothing installed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import jepakit
from jepakit import DataBundle, Domain, Task, hookimpl
from jepakit import plugins as plugmod


class Waves(torch.utils.data.Dataset):
    """1-channel signals whose class is the frequency band; phase and noise are nuisance."""

    def __init__(self, n: int, seed: int, length: int = 64):
        g = np.random.default_rng(seed)
        self.labels = g.integers(0, 3, n)
        t = np.arange(length) / length
        self.x = np.stack(
            [np.sin(2 * np.pi * (2 + 4 * y) * t + g.uniform(0, 6))[None] + 0.3 * g.normal(size=(1, length)) for y in self.labels]
        ).astype(np.float32)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict:
        return {"x": torch.from_numpy(self.x[i]), "label": int(self.labels[i])}


def load_waves(path=None, n: int = 96, length: int = 64) -> DataBundle:
    return DataBundle(
        Waves(n, 0, length),
        {"in_chans": 1, "size": length},
        {"band": Task(Waves(n, 1, length), Waves(n, 2, length), "multiclass", classes=["low", "mid", "high"])},
        describe=f"{n} synthetic waves",
    )


TINY = {
    "recipe": {"name": "jepa"},  # the masked-prediction path; LeJEPA tests ask for it
    "tokenizer": {"name": "patch", "patch": 4},
    "model": {"width": 32, "depth": 2, "heads": 2, "pred_width": 16, "pred_depth": 1, "pred_heads": 2},
    "train": {"steps": 30, "batch_size": 16, "lr": 2e-3, "warmup": 3, "progress": False},
    "masker": {"name": "multiblock", "num_targets": 2},
}


class WavesPlugin:
    @hookimpl
    def jepakit_register_domains(register):
        register(
            Domain(
                "waves",
                load_waves,
                summary="test domain: sine bands",
                defaults=TINY,
                quick={"train": {"steps": 10}, "eval": {"seeds": 2, "sup_steps": 10, "fractions": [0.1, 1.0]}},
            )
        )


@pytest.fixture(autouse=True)
def isolated_plugins(monkeypatch):
    """Only the built-ins and the in-test plugin: installed domain plugins stay out."""
    monkeypatch.setenv(plugmod.ENV_VAR, "")
    plugmod.reset()
    yield
    plugmod.reset()


@pytest.fixture
def waves():
    jepakit.register_plugin(WavesPlugin, "waves")
    return "waves"
