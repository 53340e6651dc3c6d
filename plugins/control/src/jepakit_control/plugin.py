"""Hook implementations and the ``control`` Domain record (ACT-JEPA)."""

from __future__ import annotations

from jepakit import Domain, Evaluation, hookimpl, lazy

from .presets import BENCH, DATASETS, DEFAULTS, QUICK, VARIANTS

# components by reference: listing plugins imports neither torch nor gymnasium (jepakit.lazy)
EVALUATIONS = {
    "actions": Evaluation(lazy("jepakit_control.evaluate:action_error"), "mse", higher_is_better=False,
                          summary="action-chunk MSE on held-out episodes (raw action units)"),
    "closed-loop": Evaluation(lazy("jepakit_control.evaluate:closed_loop"), "return",
                              summary="mean return (and success rate) over seeded simulator episodes, head fitted on the frozen encoder"),
    "closed-loop-own": Evaluation(lazy("jepakit_control.evaluate:closed_loop_own"), "return",
                                  summary="the same with the model's own action head where pretraining trained one"),
}


@hookimpl
def jepakit_register_tokenizers(register):
    register("control-steps", "jepakit_control.tokenizer:StepTokenizer",
             "one token per time step: past observations, then the future steps (data in the target encoder only)")


@hookimpl
def jepakit_register_maskers(register):
    register("chunk", "jepakit_control.masks:ChunkMasker", "context = the past window, target = the next chunk of steps")


@hookimpl
def jepakit_register_targets(register):
    register("future-ema", "jepakit_control.targets:FutureEMATarget", "EMA encoder of the future observations alone (ACT-JEPA)")


@hookimpl
def jepakit_register_losses(register):
    register("act-jepa", "jepakit_control.losses:ActJepaLoss",
             "ACT-JEPA: future-embedding loss + action-chunk loss (own head), separately weighted")


@hookimpl
def jepakit_register_domains(register):
    register(
        Domain(
            name="control",
            load=lazy("jepakit_control.data:load"),
            summary="ACT-JEPA: policies from demonstrations (.npz/Parquet/HDF5 episodes); default: Pendulum-v1 expert + failures",
            defaults=DEFAULTS,
            quick=QUICK,
            bench=BENCH,
            variants=VARIANTS,
            baselines={"raw/linear": lazy("jepakit_control.baselines:raw_linear")},
            datasets=DATASETS,
            evaluations=EVALUATIONS,
        )
    )


__all__ = ["EVALUATIONS", "jepakit_register_domains", "jepakit_register_losses", "jepakit_register_maskers",
           "jepakit_register_targets", "jepakit_register_tokenizers"]
