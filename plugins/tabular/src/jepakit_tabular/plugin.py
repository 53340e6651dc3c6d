"""Hook implementations and the ``tabular`` Domain record."""

from __future__ import annotations

from jepakit import Domain, hookimpl, lazy

from .presets import BENCH, DEFAULTS, QUICK, RENAMED, TABLES

# components by reference: listing plugins imports neither torch nor pandas (jepakit.lazy)
BASELINES = {
    "raw/linear": lazy("jepakit_tabular.baselines:raw_linear"),
    "raw/mlp": lazy("jepakit_tabular.baselines:raw_mlp"),
    "hgb": lazy("jepakit_tabular.baselines:hist_gradient_boosting"),
}
@hookimpl
def jepakit_register_tokenizers(register):
    register("tabular", "jepakit_tabular.tokenizer:TabularTokenizer", "one token per column (affine/periodic numeric, categorical tables) + regularization tokens")


@hookimpl
def jepakit_register_maskers(register):
    register("tjepa-subset", "jepakit_tabular.masks:SubsetMasker", "T-JEPA: random context column subset and disjoint target column subsets")
    register("correlated", "jepakit_tabular.masks:CorrelatedMasker", "correlated feature masking: seed column + its most dependent columns (mutual information)")


@hookimpl
def jepakit_register_domains(register):
    register(
        Domain(
            name="tabular",
            load=lazy("jepakit_tabular.data:load"),
            summary="tables (CSV, Parquet, DataFrame, .npy): T-JEPA column tokens; default data: sklearn's bundled tables",
            defaults=DEFAULTS,
            quick=QUICK,
            bench=BENCH,
            baselines=BASELINES,
            datasets={name: {"table": name} for name in TABLES},
            renamed=RENAMED,
        )
    )


__all__ = ["BASELINES", "TABLES", "jepakit_register_domains", "jepakit_register_maskers", "jepakit_register_tokenizers"]
