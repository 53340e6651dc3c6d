"""The ``tabular`` domain's presets: defaults, ``--quick`` and bench overrides, its default
tables, and the ``data.*`` keys renamed to the vocabulary every domain shares
(:mod:`jepakit.kit`)."""

from __future__ import annotations

# the bundled sklearn tables of jepakit_tabular.synthetic.TABLES (a test keeps them equal)
TABLES = ("breast_cancer", "wine", "digits", "diabetes")

# The recipe is LeJEPA with views that are random column subsets (a column's neighbours
# mean nothing). Chosen on a validation split of the training rows (root README, "Which recipe";
# linear probe on flat column tokens, accuracy at 10 % labels): on digits LeJEPA 0.882 at
# 500 and at 1000 steps, T-JEPA's masked prediction 0.867 at 1000 steps, random init
# 0.868, with the across-sample hinge and covariance term 0.854; on breast_cancer no recipe
# beat random init (README, "Measured benchmark"). 500 steps
# keep the four-table bench under 10 minutes (3000 T-JEPA steps took 26).
# T-JEPA stays one setting away: `--set recipe=jepa` (column-subset masks, EMA target).
DEFAULTS = {
    "recipe": {"name": "lejepa"},
    "views": {"name": "blocks", "mode": "random"},
    "tokenizer": {"name": "tabular", "num_reg_tokens": 2, "numeric": "affine"},
    "masker": {"name": "correlated"},
    "target": {"name": "ema", "momentum": [0.996, 1.0]},
    "model": {
        "width": 64, "depth": 2, "heads": 4, "mlp_ratio": 2.0, "pos": "learned",
        "pred_width": 32, "pred_depth": 1, "pred_heads": 4,
    },
    "train": {"steps": 500, "batch_size": 64, "lr": 1e-3, "warmup": 0.1, "weight_decay": 0.05},
    # a column keeps its meaning in every row, so the probes see the column tokens side
    # by side ("flat") rather than averaged (measured: linear probe at 10 % labels on
    # digits 0.862 mean-pooled -> 0.899 flat, wine 0.915 -> 0.926, breast_cancer 0.925 -> 0.938)
    "eval": {"fractions": [0.1, 1.0], "seeds": 5, "heads": ["linear", "mlp"], "sup_steps": 100, "pool": "flat"},
}

QUICK = {
    "model": {"width": 32, "depth": 1, "heads": 2, "pred_width": 16, "pred_depth": 1, "pred_heads": 2},
    "train": {"steps": 30, "batch_size": 64},
    "eval": {"fractions": [0.1, 1.0], "seeds": 1, "heads": ["linear"], "sup_steps": 20},
}

BENCH: dict = {}

# old data.* names -> the shared vocabulary (jepakit.kit); old configs and checkpoints load
# with a one-line notice
RENAMED = {"test_size": "test_fraction", "split_seed": "seed"}
