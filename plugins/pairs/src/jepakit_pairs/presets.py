"""The ``pairs`` domain's presets: defaults, ``--quick`` and bench overrides, and the three
objectives the bench compares (self-supervised only, label only, the mix)."""

from __future__ import annotations

# a two-tower contrastive model on the core's JEPA loop: the context is the video alone,
# the target the music alone (masker `pair`), each pooled and projected by two heads
DEFAULTS = {
    "recipe": {"name": "jepa"},
    "tokenizer": {"name": "av-pair", "tubelet": [2, 4, 4], "audio_patch": 2},
    "masker": {"name": "pair", "query": "video", "groups": 2},
    "target": {"name": "pair-key", "proj_dim": 32, "hidden": 64},
    "predictor": {"name": "pair-heads"},
    # alpha: the label objective's share; temperatures learned from 0.1
    "loss": {"name": "semisup", "alpha": 0.5, "temperature": 0.1, "label_temperature": 0.1},
    "model": {"width": 64, "depth": 2, "heads": 4, "mlp_ratio": 2.0, "pred_width": 64, "pred_depth": 1, "pred_heads": 4},
    "train": {"steps": 400, "batch_size": 128, "lr": 2e-3, "warmup": 0.1, "weight_decay": 0.05, "rankme_every": 100,
              "rankme_samples": 512},
    # retrieval is this domain's measurement (Domain.evaluations); the genre probes stay as
    # a check of the joint embedding, without the from-scratch rows (their cost is most
    # of a bench, and they measure the probe, not the retrieval)
    "eval": {"fractions": [0.1, 1.0], "seeds": 2, "supervised": False, "finetune": False, "sup_steps": 100},
}

QUICK = {
    "synthetic": {"n_pretrain": 256, "n_train": 96, "n_test": 96},
    "train": {"steps": 20, "batch_size": 32, "rankme_every": 0},
    "eval": {"fractions": [1.0], "seeds": 1, "variants": ["mixed"]},
}

BENCH = {
    "synthetic": {"n_pretrain": 2048, "n_train": 256, "n_test": 512},
    "train": {"steps": 400},
}

VARIANTS = {
    "mixed": {"loss": {"alpha": 0.5}},
    "ssl": {"loss": {"alpha": 0.0}},
    "label": {"loss": {"alpha": 1.0}},
}
