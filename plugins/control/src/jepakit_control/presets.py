"""The ``control`` domain's presets: defaults, ``--quick`` and bench overrides, the
variants the bench compares and the demonstration counts it runs (``datasets``).
The numbers behind them are in the README's Tuning section."""

from __future__ import annotations

_MODEL = {"width": 64, "depth": 3, "heads": 4, "mlp_ratio": 2.0, "pred_width": 64, "pred_depth": 2, "pred_heads": 4}

DEFAULTS = {
    # ACT-JEPA: masked prediction where the mask is time (past = context, the next
    # `chunk` steps = target), an EMA target encoder of the future observations, and the
    # two declared losses
    "recipe": {"name": "jepa"},
    # 50 simulator episodes per closed-loop score: a success rate near 0.5 then has a
    # standard error of 0.07 (0.11 with 20; two 20-episode seed sets of one policy gave 0.30
    # and 0.55)
    "data": {"window": 8, "chunk": 8, "labelled_share": 0.5, "rollouts": 50},
    "tokenizer": {"name": "control-steps"},
    "masker": {"name": "chunk"},
    "target": {"name": "future-ema"},
    "predictor": {"name": "transformer"},
    "loss": {"name": "act-jepa", "jepa_weight": 1.0, "action_weight": 1.0},
    "model": dict(_MODEL),
    # 1200 steps (~40-75 s on one core): at 600 the JEPA loss was flat (0.015 from ~400 on)
    # but the action heads were short of labelled windows (validation episodes and seeds, 8
    # demonstrations: README, Tuning); 9 runs (3 variants x 3 demonstration counts) and the
    # evaluations took 10 min 18 s
    "train": {"steps": 1200, "batch_size": 64, "lr": 1e-3, "warmup": 0.05, "weight_decay": 0.05, "rankme_every": 400},
    # the probes see every state probe item (fractions are demonstration counts here: the
    # bench's datasets); the supervised/finetune rows are classification-task machinery the
    # closed-loop evaluation replaces; sup_* is the budget of the action head fitted on a
    # frozen encoder
    # (1000 steps: 6 s a fit on one core, 36 fits a bench; 1500 took 9 s)
    "eval": {"fractions": [1.0], "seeds": 3, "supervised": False, "finetune": False, "sup_steps": 1000, "sup_batch_size": 256,
             "sup_lr": 1e-3},
}

QUICK = {
    "synthetic": {"episodes": 10, "noisy_episodes": 4, "test_episodes": 3, "steps": 60},
    "data": {"rollouts": 2, "probe_stride": 8},
    "model": {"width": 32, "depth": 1, "heads": 2, "pred_width": 32, "pred_depth": 1, "pred_heads": 2},
    "train": {"steps": 20, "batch_size": 32, "rankme_every": 0},
    "eval": {"seeds": 1, "sup_steps": 30},
}

BENCH: dict = {}

VARIANTS = {
    "act-jepa": {},
    # behaviour cloning with chunks: no JEPA loss, the demonstrations' windows only
    "action-only": {"loss": {"jepa_weight": 0.0}, "data": {"labelled_share": 1.0}},
    # JEPA pretraining on every episode; the evaluation fits the action head on the frozen encoder
    "jepa-only": {"loss": {"action_weight": 0.0}, "data": {"labelled_share": None}},
}

# label efficiency: the number of demonstration episodes whose actions are imitated; the
# other training episodes (and the failed ones) are unlabelled JEPA data
# (raw-state cloning, 20 episodes: 1 demonstration 0.05-0.15 success, 2: 0.25-0.30, 4: 0.30-0.45,
# 8: 1.00, 32: 1.00 -- the interesting range is below 8)
DEMO_COUNTS = (2, 4, 8)
DATASETS = {f"demos-{n}": {"demos": n} for n in DEMO_COUNTS}
