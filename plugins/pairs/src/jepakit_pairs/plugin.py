"""Hook implementations and the ``pairs`` domain record (semi-supervised contrastive
video <-> music retrieval with an inference-time knob)."""

from __future__ import annotations

from jepakit import Domain, hookimpl, lazy
from jepakit.domain import Evaluation

from .presets import BENCH, DEFAULTS, QUICK, VARIANTS

# components by reference: listing plugins imports neither torch nor soundfile (jepakit.lazy)


@hookimpl
def jepakit_register_tokenizers(register):
    register("av-pair", "jepakit_pairs.tokenizer:PairTokenizer", "video tubelets and music log-mel patches as two segments of one layout")


@hookimpl
def jepakit_register_maskers(register):
    register("pair", "jepakit_pairs.masks:CrossModalMasker", "cross-modal: the query modality whole as context, the other as target, one group per head")


@hookimpl
def jepakit_register_predictors(register):
    register("pair-heads", "jepakit_pairs.heads:QueryHeads", "query tower: mean-pooled context, one projection head per target group")


@hookimpl
def jepakit_register_targets(register):
    register("pair-key", "jepakit_pairs.heads:KeyHeads", "key tower: the online encoder over the other modality alone, pooled, projected (with gradient)")


@hookimpl
def jepakit_register_losses(register):
    register("semisup", "jepakit_pairs.losses:SemiSupervisedContrastive",
             "(1 - alpha) InfoNCE between pairs + alpha SupCon on labels (the core's infonce and supcon)")


@hookimpl
def jepakit_register_domains(register):
    register(
        Domain(
            name="pairs",
            load=lazy("jepakit_pairs.data:load"),
            summary="semi-supervised contrastive video <-> music retrieval, a knob between pair and genre retrieval; synthetic paired clips",
            defaults=DEFAULTS,
            quick=QUICK,
            bench=BENCH,
            variants=VARIANTS,
            baselines={"features/linear": lazy("jepakit_pairs.baselines:features_linear")},
            evaluations={
                # retrieval fits nothing on labels: once per encoder and seed
                "v2a": Evaluation(lazy("jepakit_pairs.retrieval:video_to_music"), "R@1", True,
                                  "video -> music: Recall@1/5/10, median rank, genre@10, at each knob w",
                                  also=("R@10", "medR", "genre@50"), uses_labels=False),
                "a2v": Evaluation(lazy("jepakit_pairs.retrieval:music_to_video"), "R@1", True,
                                  "music -> video: Recall@1/5/10, median rank, genre@10, at each knob w",
                                  also=("R@10", "medR", "genre@50"), uses_labels=False),
            },
        )
    )
