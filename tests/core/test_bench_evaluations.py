"""A domain's own evaluations (jepakit.domain.Evaluation) run in the benchmark beside the
probes: for every pretrained variant and random init, per label fraction and seed, given
the keywords they name; their rows are tabulated with their own metric."""

from __future__ import annotations

import pytest
import torch

import jepakit
from jepakit import Domain, Evaluation, hookimpl
from jepakit.bench import run_bench
from jepakit.errors import JepakitError

from .conftest import TINY, load_waves

CALLS: list[tuple] = []


def spread(encoder, model, bundle, fraction, seed):
    """The across-item spread of the pooled embeddings of a few items (a stand-in for a
    domain measurement a probe cannot make)."""
    batch = torch.utils.data.default_collate([bundle.pretrain[i] for i in range(8)])
    with torch.no_grad():
        z = encoder.embed(batch)
    CALLS.append((model is None, fraction, seed, encoder.training))
    return {"spread": float(z.std(0).mean()), "n_labels": int(8 * fraction) + 1}


def no_metric(encoder):
    return {"other": 1.0}


def _plugin(evaluations):
    class P:
        @hookimpl
        def jepakit_register_domains(register):
            register(Domain("waves-eval", load_waves, defaults=TINY, evaluations=evaluations,
                            quick={"train": {"steps": 3}, "eval": {"seeds": 2, "fractions": [0.5, 1.0], "supervised": False,
                                                                     "finetune": False}}))
    return P


def test_evaluations_run_for_each_encoder_fraction_and_seed_and_are_tabulated(tmp_path):
    CALLS.clear()
    jepakit.register_plugin(_plugin({"spread": Evaluation(spread, "spread", summary="embedding spread")}), "ev")
    result = run_bench("waves-eval", quick=True, out=tmp_path / "b", echo=False)
    # one pretrained variant and random init, 2 fractions x 2 seeds each
    assert sorted(CALLS) == sorted([(r, f, s, False) for r in (False, True) for f in (0.5, 1.0) for s in (0, 1)])
    rows = [r for r in result.rows if r["task"] == "spread"]
    assert {r["method"] for r in rows} == {"jepa", "random-init"} and all(r["primary"] == "spread" for r in rows)
    assert "| spread: spread |" in result.table and "random-init" in result.table
    assert {r["n_labels"] for r in rows} == {5, 9}


def test_an_evaluation_that_fits_no_labels_runs_once_per_encoder_and_tabulates_its_other_metrics(tmp_path):
    CALLS.clear()

    def with_more(encoder, model, bundle, fraction, seed):
        out = spread(encoder, model, bundle, fraction, seed)
        return {**out, "n_labels_seen": float(out["n_labels"])}

    ev = Evaluation(with_more, "spread", also=("n_labels_seen",), uses_labels=False)
    jepakit.register_plugin(_plugin({"spread": ev}), "ev3")
    result = run_bench("waves-eval", quick=True, out=tmp_path / "b", echo=False)
    assert sorted(CALLS) == sorted([(r, 1.0, s, False) for r in (False, True) for s in (0, 1)])
    assert "| spread: spread |" in result.table and "| spread: n_labels_seen |" in result.table


def test_an_evaluation_without_its_metric_is_one_line_error(tmp_path):
    jepakit.register_plugin(_plugin({"bad": Evaluation(no_metric, "spread")}), "ev2")
    with pytest.raises(JepakitError, match="evaluation 'bad' returned no 'spread'"):
        run_bench("waves-eval", quick=True, out=tmp_path / "b", echo=False)
