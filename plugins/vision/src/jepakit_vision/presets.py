"""The ``vision`` domain's presets: defaults, ``--quick`` and bench overrides, the variants
the bench compares (I-JEPA, DSeq-JEPA, LeJEPA, seq-JEPA) and its two default datasets."""

from __future__ import annotations

# a ViT of ViT-Tiny's shape but 4 blocks of width 96: 28 px MNIST in 4 px patches is a 7x7
# grid (49 tokens), the 32 px shapes an 8x8 one; one I-JEPA step of 64 images takes
# ~0.1 s on one core at this size (measured in the bench logs)
_MODEL = {"width": 96, "depth": 4, "heads": 4, "mlp_ratio": 4.0, "pred_width": 64, "pred_depth": 2, "pred_heads": 4}

DEFAULTS = {
    # I-JEPA on the user's images: the first method; LeJEPA, DSeq-JEPA and
    # seq-JEPA are variants (`--set recipe=lejepa`, or the variants' settings below)
    "recipe": {"name": "jepa"},
    "tokenizer": {"name": "image-patch", "patch": 4},
    "masker": {"name": "multiblock"},  # I-JEPA's masks: 4 targets of 15-20 %, context 85-100 %
    "target": {"name": "ema"},
    "predictor": {"name": "transformer"},
    # VICReg's variance hinge and covariance term on the context tokens (the core's short
    # forms), for every masked-prediction variant alike: plain I-JEPA collapsed on MNIST at the
    # bench's budget (300 steps, width 64: pooled RankMe 1.3 of 64; with I-JEPA's absolute
    # EMA momentum 0.996-1.0, 1.8 and a 10 %-label linear probe of 0.371 against random
    # init's 0.348); with var_weight 1, cov_weight 0.04 RankMe 19.1 and the probe 0.539; with
    # SIGReg (loss.sigreg 0.05) RankMe 3.5 and 0.237
    "loss": {"var_weight": 1.0, "cov_weight": 0.04},
    "model": dict(_MODEL),
    "train": {"steps": 600, "batch_size": 64, "lr": 1e-3, "warmup": 0.1, "weight_decay": 0.05},
    "eval": {"fractions": [0.01, 0.1, 1.0], "seeds": 3, "sup_steps": 200, "sup_batch_size": 64},
}

QUICK = {
    "synthetic": {"n_pretrain": 128, "n_train": 60, "n_test": 60},
    "model": {"width": 32, "depth": 2, "heads": 2, "pred_width": 32, "pred_depth": 1, "pred_heads": 2},
    "train": {"steps": 8, "batch_size": 16, "rankme_every": 0, "rankme_samples": 64},
    "eval": {"fractions": [1.0], "seeds": 1, "sup_steps": 5, "finetune": False, "variants": ["ijepa", "seq"]},
}

# sized for ~15 minutes on one core (measured: one I-JEPA step of 64 32-px shapes at width
# 96 took 0.47 s on one core, LeJEPA 0.75 s, seq-JEPA with 64 sequences 1.8 s): width 64,
# batch 32 (seq-JEPA 8 sequences = 32 images), 300 steps, 2 datasets x 4 variants; probes at 3
# label fractions x 2 draws, the scratch row at 100 steps (no fine-tune row: not asked here)
BENCH = {
    "synthetic": {"n_pretrain": 2000, "n_train": 600, "n_test": 400},
    "model": {"width": 64, "depth": 4, "heads": 4, "pred_width": 48, "pred_depth": 2, "pred_heads": 4},
    "train": {"steps": 300, "batch_size": 32, "rankme_every": 100, "rankme_samples": 512},
    "eval": {"fractions": [0.01, 0.1, 1.0], "seeds": 2, "sup_steps": 100, "sup_batch_size": 32, "finetune": False},
}

VARIANTS = {
    "ijepa": {},
    # DSeq-JEPA: the same budget as I-JEPA (steps, block sizes and count, predictor size),
    # targets where the EMA encoder attends, predicted in that order
    "dseq": {"masker": {"name": "saliency"}, "predictor": {"name": "dseq"}},
    "lejepa": {"recipe": {"name": "lejepa"}},
    # seq-JEPA: sequences of 3 context views + 1 target view, their actions, aggregator and
    # action-conditioned predictor; 8 sequences of 4 views = 32 images a step, the bench's
    # batch of the other variants (with another train.batch_size, give seq batch / 4)
    "seq": {"data": {"views": 4}, "masker": {"name": "seq-views"}, "predictor": {"name": "seq-action"},
            "loss": {"name": "seq-view"}, "train": {"batch_size": 8}},
}

# two default datasets when no --data is given: a real image set (label efficiency) and the
# synthetic one made for seq-JEPA (invariant and equivariant tasks)
DATASETS = {"images": {}, "shapes": {"dataset": "shapes"}}
