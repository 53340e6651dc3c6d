"""The ``volume`` domain's presets: defaults, ``--quick`` and bench overrides, and the
joint / 2-D-only / 3-D-only pretraining variants the bench compares."""

from __future__ import annotations

# width <= 64 and 2 blocks: the data are 16 slices of 16 x 16; the bench must fit ~8
# minutes of one CPU core for three pretrained variants plus the references
_MODEL = {"width": 64, "depth": 2, "heads": 4, "mlp_ratio": 2.0, "pred_width": 32, "pred_depth": 1, "pred_heads": 4}

DEFAULTS = {
    # masked slice-embedding prediction (the JEPA objective) + contrastive clustering
    "recipe": {"name": "jepa"},
    "data": {"size": [16, 16, 16], "modalities": "both"},
    "tokenizer": {"name": "slices"},
    "masker": {"name": "slices"},
    "target": {"name": "slice-ema"},
    "loss": {"name": "smooth_l1"},
    "regularizers": {"cluster": {"weight": 0.5, "level": "both"}},
    "model": dict(_MODEL),
    "train": {"steps": 400, "batch_size": 32, "lr": 1e-3, "warmup": 0.1, "weight_decay": 0.05},
    "eval": {"fractions": [0.01, 0.1, 1.0], "seeds": 3, "sup_steps": 150, "sup_batch_size": 32, "pool": "mean"},
}

QUICK = {
    "synthetic": {"n_volumes": 64, "n_images": 64, "n_train": 48, "n_test": 48},  # the embedded set only
    "model": {"width": 32, "depth": 1, "heads": 2, "pred_width": 16, "pred_depth": 1, "pred_heads": 2},
    "train": {"steps": 12, "batch_size": 16},
    "eval": {"fractions": [0.1, 1.0], "seeds": 1, "sup_steps": 10, "variants": ["joint"]},
}

BENCH = {
    "synthetic": {"n_volumes": 600, "n_images": 600, "n_train": 200, "n_test": 400},
    "eval": {"fractions": [0.01, 0.1, 1.0], "seeds": 3, "sup_steps": 150, "variants": ["joint", "2d", "3d"]},
}

# the paper's comparison: joint 2-D + 3-D pretraining against each modality alone, the
# same steps, model and tasks (only what is pretrained on differs)
VARIANTS = {
    "joint": {"data": {"modalities": "both"}},
    "2d": {"data": {"modalities": "images"}},
    "3d": {"data": {"modalities": "volumes"}},
}
