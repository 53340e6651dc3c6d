"""The ``sar`` domain's presets: defaults, ``--quick`` and bench overrides, and the
target variants the bench compares."""

from __future__ import annotations

_MODEL = {"width": 128, "depth": 4, "heads": 4, "mlp_ratio": 4.0, "pred_width": 64, "pred_depth": 2, "pred_heads": 4}

DEFAULTS = {
    # SAR-JEPA's masked prediction of ROA gradients, chosen on a validation split of the
    # bench's training chips (README, "Benchmark"; accuracy at 10 % labels over L1/L2/L4,
    # 9 draws): ROA at 1000 steps 0.293 (6/9 ahead of random init, 0.291), LeJEPA at 1000
    # steps 0.284 (5/9); at 250 steps ROA collapsed (RankMe 1.9) and scored 0.266
    "recipe": {"name": "jepa"},
    "data": {"chip": 64, "patch": 8},
    "tokenizer": {"name": "sar-patch"},
    # multi-block masks by default: with the core's context-only encoder, SAR-JEPA's local
    # windows leave ~10 visible tokens of 64 and probed no better than random init here
    # (see README); `--set masker.name=sar-local` selects them.
    "masker": {"name": "multiblock"},
    "target": {"name": "roa"},
    "loss": {"name": "mse"},
    "model": dict(_MODEL),
    "train": {"steps": 600, "batch_size": 64, "lr": 1e-3, "warmup": 0.1, "weight_decay": 0.05},
    "eval": {"fractions": [0.01, 0.1, 1.0], "seeds": 3, "sup_steps": 200, "sup_batch_size": 32},
}

QUICK = {
    "synthetic": {"n_pretrain": 192, "n_train": 100, "n_test": 100, "looks": [1]},  # the embedded set only
    "model": {"width": 64, "depth": 2, "heads": 2, "pred_width": 32, "pred_depth": 1, "pred_heads": 2},
    "train": {"steps": 15, "batch_size": 16},
    "eval": {"fractions": [0.1, 1.0], "seeds": 1, "sup_steps": 10, "variants": ["roa"]},
}

# one variant by default: the three targets took the bench to 18 minutes; compare them
# with --set eval.variants=[roa,pixel,hog,lejepa]
BENCH = {
    "synthetic": {"n_pretrain": 1500, "n_train": 500, "n_test": 500},
    "train": {"steps": 1000, "batch_size": 64},
    # three label draws, so "ahead of random init on 2 of 3 draws" can be read off the table
    "eval": {"fractions": [0.01, 0.1, 1.0], "seeds": 3, "sup_steps": 150, "variants": ["roa"]},
}

VARIANTS = {
    "roa": {"target": {"name": "roa"}},
    "pixel": {"target": {"name": "pixel"}},
    "hog": {"target": {"name": "hog"}},
    "lejepa": {"recipe": {"name": "lejepa"}},
}
