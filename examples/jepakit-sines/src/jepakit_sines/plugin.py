"""A complete third-party jepakit plugin: one domain of noisy sine waves."""

import numpy as np

from jepakit import Domain, hookimpl


class Sines:
    """A map-style dataset of dicts of arrays; the core's collate makes them tensors."""

    def __init__(self, n: int, seed: int, length: int = 128):
        rng = np.random.default_rng(seed)
        self.labels = rng.integers(0, 4, n)  # the class is the frequency band
        t = np.arange(length) / length
        phase = rng.uniform(0, 2 * np.pi, (n, 1))
        noise = rng.normal(0, 0.3, (n, length))
        self.x = (np.sin(2 * np.pi * (2 + 3 * self.labels[:, None]) * t + phase) + noise).astype(np.float32)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return {"x": self.x[i][None], "label": int(self.labels[i])}


def load(path=None, n: int = 512):
    # a real plugin reads `path` here; None means its embedded default data. The
    # contract's data types import torch, so they are imported here, when data is
    # loaded, not when `jepakit domains` lists the plugin.
    from jepakit import DataBundle, DataError, Task

    if path is not None:  # never train on something else than what the user named
        raise DataError(f"{path}: the sines example reads no files; run it without --data")

    return DataBundle(
        pretrain=Sines(n, 0),
        info={"in_chans": 1, "size": 128},  # offered to every factory that names them
        tasks={"band": Task(Sines(n, 1), Sines(n, 2), "multiclass")},
    )


@hookimpl
def jepakit_register_domains(register):
    register(
        Domain(
            "sines",
            load,
            summary="noisy sine waves, 4 frequency bands",
            defaults={
                "tokenizer": {"name": "patch", "patch": 8},  # the core's N-D patch tokenizer
                "model": {"width": 64, "depth": 4, "heads": 4, "pred_width": 32, "pred_depth": 2, "pred_heads": 4},
                "train": {"steps": 300, "batch_size": 32},
            },
            quick={"train": {"steps": 30}, "eval": {"seeds": 2, "sup_steps": 30}},
        )
    )
