"""Hook implementations and the ``ecg`` Domain record."""

from __future__ import annotations

from jepakit import Domain, hookimpl, lazy

from .presets import BENCH, DEFAULTS, QUICK, RENAMED

# components by reference: listing plugins imports neither torch nor wfdb (jepakit.lazy)


@hookimpl
def jepakit_register_tokenizers(register):
    register("ecg-joint", "jepakit_ecg.tokenizer:JointPatchTokenizer", "ECG-JEPA joint patching: all leads of one 50 ms window -> one token")
    register("ecg-lead", "jepakit_ecg.tokenizer:PerLeadTokenizer", "per-lead patches with a lead embedding, grid (leads, time); absent leads invalid")


@hookimpl
def jepakit_register_maskers(register):
    register("ecg-blocks", "jepakit_ecg.masks:ContiguousBlockMasker", "75-85 % of time patches masked in contiguous blocks of >= 10 patches")


@hookimpl
def jepakit_register_domains(register):
    register(
        Domain(
            name="ecg",
            load=lazy("jepakit_ecg.data:load"),
            summary="12-lead ECG (WFDB, PTB-XL, NumPy; synthetic by default): ECG-JEPA, multi-label superclass AUC",
            defaults=DEFAULTS,
            quick=QUICK,
            bench=BENCH,
            baselines={"features+linear": lazy("jepakit_ecg.baselines:handcrafted")},
            prepare=lazy("jepakit_ecg.data:prepare"),
            renamed=RENAMED,
        )
    )
