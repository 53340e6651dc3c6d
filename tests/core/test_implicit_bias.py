"""The deep-linear implicit-bias experiment reproduces JEPA's ρ bias and MAE's λ bias.

Separating setting: λ rises 1 → 1.2 while ρ falls 1 → 0.5 over five features, so "larger λ
first" and "larger ρ first" predict opposite orders. Measured here (ε = 0.01, lr = 0.05):
MAE learns 5→4→3→2→1 at every depth (τ(t, λ) = −1); JEPA learns 5→…→1 at L = 1 (its ρ
preference is nil there) and 1→2→3→4→5 at L = 3 (τ(t, ρ) = −1); JEPA's t(min ρ)/t(max ρ)
is 0.84, 0.99, 1.25 at L = 1, 2, 3. About 4 s on one core.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from jepakit.experiments import implicit_bias as ib


@pytest.fixture(scope="module")
def separating() -> ib.ExperimentResult:
    return ib.run_setting("separating", depths=(1, 2, 3), verbose=False)


def test_runs_converge_and_match_the_balanced_gradient_flow(separating):
    for run in separating.runs:
        assert run.converged, (run.objective, run.depth, run.residual)
        assert np.all(np.isfinite(run.learning_time))
        # GD with lr 0.05 vs the quadrature of the decoupled ODE: within 3 % (measured ≤ 2.3 %)
        np.testing.assert_allclose(run.learning_time, run.theory_time, rtol=0.03)
    # the fixed points the analysis predicts: JEPA w̄ = ρ^L, MAE w̄ = ρ^{L/(L+1)}
    for L in separating.depths:
        np.testing.assert_allclose(separating.get("jepa", L).final, separating.rho**L, rtol=1e-2)
        np.testing.assert_allclose(separating.get("mae", L).final, separating.rho ** (L / (L + 1)), rtol=1e-2)


def test_mae_follows_lambda_and_deep_jepa_follows_rho(separating):
    for L in separating.depths:
        mae = separating.get("mae", L)
        assert mae.kendall_lam <= -0.8 and mae.spearman_lam <= -0.9, (L, mae.learning_time)
        assert mae.order == [5, 4, 3, 2, 1]
    deep = separating.get("jepa", 3)
    assert deep.kendall_rho <= -0.8 and deep.spearman_rho <= -0.9, deep.learning_time
    assert deep.order == [1, 2, 3, 4, 5]
    # swapping the objective flips the outcome: the same checks fail on the other objective
    assert separating.get("mae", 3).kendall_rho >= 0.8  # MAE learns the low-ρ (noisy) feature first
    assert deep.kendall_lam >= 0.8
    assert ib.check_claims(separating) == {"mae_follows_lambda": True, "jepa_follows_rho": True,
                                           "depth_sharpens_jepa": True}


def test_depth_sharpens_the_jepa_bias(separating):
    ratio = [separating.get("jepa", L).rho_ratio for L in (1, 2, 3)]  # t(min ρ) / t(max ρ)
    assert ratio[0] < ratio[1] < ratio[2], ratio
    assert ratio[0] < 0.9 and ratio[2] > 1.15, ratio  # shallow: high-λ first; L = 3: high-ρ first
    # depth does not do this to MAE: its ratio stays below 1 (the noisy high-λ feature first)
    assert all(separating.get("mae", L).rho_ratio < 0.9 for L in (1, 2, 3))


def test_claims_fail_when_the_objectives_are_swapped(separating):
    swapped = ib.ExperimentResult(
        separating.setting, separating.lam, separating.rho,
        [ib.ObjectiveRun(**{**r.__dict__, "objective": "mae" if r.objective == "jepa" else "jepa"})
         for r in separating.runs],
    )
    claims = ib.check_claims(swapped)
    assert not claims["mae_follows_lambda"] and not claims["jepa_follows_rho"]
    assert not claims["depth_sharpens_jepa"]


def test_rotations_are_a_symmetry_of_the_aligned_init():
    lam, rho = ib.SETTINGS["separating"]
    a = ib.train("jepa", lam, rho, 2, seed=1, verbose=False)
    b = ib.train("jepa", lam, rho, 2, seed=7, init="identity", verbose=False)
    np.testing.assert_allclose(a.learning_time, b.learning_time, rtol=1e-6)


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="ρ must lie"):
        ib.covariances([1.0, 1.0], [0.5, 1.5])  # Σ_yy = Σ_xx is not a valid joint covariance
    with pytest.raises(ValueError, match="objective"):
        ib.train("simclr", [1.0, 1.0], [1.0, 0.5], 1)
    with pytest.raises(ValueError, match="setting"):
        ib.run_setting("noisy")


def test_main_writes_table_json_and_plot(tmp_path, capsys):
    from jepakit.cli import main

    out = tmp_path / "ib"
    # the CLI twin: jepakit experiment implicit-bias OPTIONS
    assert main(["experiment", "implicit-bias", "--out", str(out), "--depths", "1,2", "--setting", "both", "--objectives", "jepa,mae"]) == 0
    table = (out / "table.md").read_text()
    assert "setting: aligned" in table and "setting: separating" in table and "τ(t,ρ)" in table
    assert "setting: separating" in capsys.readouterr().out
    data = json.loads((out / "results.json").read_text())
    runs = data["settings"]["separating"]["runs"]
    assert {(r["objective"], r["depth"]) for r in runs} == {("jepa", 1), ("jepa", 2), ("mae", 1), ("mae", 2)}
    assert data["settings"]["separating"]["claims"]["mae_follows_lambda"] is True
    assert len(runs[0]["curve_time"]) == len(runs[0]["curve_gain"])
    assert (out / "implicit_bias.png").stat().st_size > 10_000
