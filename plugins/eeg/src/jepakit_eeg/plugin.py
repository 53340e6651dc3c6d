"""Hook implementations and the ``eeg`` Domain record."""

from __future__ import annotations

from jepakit import Domain, hookimpl, lazy

from .presets import BENCH, DEFAULTS, QUICK, RENAMED, VARIANTS

# components by reference: listing plugins imports neither torch nor MNE (jepakit.lazy)


@hookimpl
def jepakit_register_tokenizers(register):
    register("eeg-vjepa", "jepakit_eeg.tokenizer:EEGVideoTokenizer", "EEG-VJEPA: frames of channels x short window, tubelets of channel group x time x frames")
    register("eeg-scalp", "jepakit_eeg.tokenizer:ScalpMapTokenizer", "scalp maps interpolated from montage positions, tubelets of scalp patch x time")


@hookimpl
def jepakit_register_domains(register):
    register(Domain(
        name="eeg",
        load=lazy("jepakit_eeg.data:load"),
        summary="EEG (any format MNE reads; synthetic 10-20 cohort by default): normal vs abnormal on held-out subjects",
        defaults=DEFAULTS,
        quick=QUICK,
        bench=BENCH,
        variants=VARIANTS,
        baselines={"bandpower-logreg": lazy("jepakit_eeg.baselines:bandpower_logreg")},
        prepare=lazy("jepakit_eeg.data:prepare"),
        renamed=RENAMED,
    ))
