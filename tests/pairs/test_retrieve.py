"""The inference-time weight: rankings move monotonically from the self-supervised
objective's to the label objective's, and the metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from jepakit_pairs.retrieval import Retriever, discordant_pairs, retrieval_metrics

WS = [i / 20 for i in range(21)]


def _heads(n=40, d=8, seed=0, genres=4):
    """Query and candidate embeddings (n, 2, d): head 0 codes the instance (noisy pairs),
    head 1 the genre."""
    g = torch.Generator().manual_seed(seed)
    inst = torch.randn(n, d, generator=g)
    centre = torch.randn(genres, d, generator=g)
    y = torch.arange(n) % genres
    q = torch.stack([inst + 0.6 * torch.randn(n, d, generator=g), centre[y] + 0.5 * torch.randn(n, d, generator=g)], 1)
    c = torch.stack([inst + 0.6 * torch.randn(n, d, generator=g), centre[y] + 0.5 * torch.randn(n, d, generator=g)], 1)
    return F.normalize(q, dim=-1), F.normalize(c, dim=-1), y


def test_the_weight_moves_every_ranking_monotonically_between_the_two_objectives():
    q, c, _ = _heads()
    ssl_only = q[:, 0] @ c[:, 0].T
    label_only = q[:, 1] @ c[:, 1].T
    s0, s1 = Retriever.scores(q, c, 0.0), Retriever.scores(q, c, 1.0)
    assert torch.equal(s0.argsort(1), ssl_only.argsort(1)) and torch.equal(s1.argsort(1), label_only.argsort(1))
    moved = 0
    for i in range(q.shape[0]):
        rows = [Retriever.scores(q[i : i + 1], c, w)[0] for w in WS]
        from_ssl = [discordant_pairs(rows[0], r) for r in rows]
        to_label = [discordant_pairs(rows[-1], r) for r in rows]
        # away from the ssl ranking and towards the label ranking, never back
        assert all(a <= b for a, b in zip(from_ssl, from_ssl[1:])), from_ssl
        assert all(a >= b for a, b in zip(to_label, to_label[1:])), to_label
        assert from_ssl[-1] == discordant_pairs(ssl_only[i], label_only[i]) and to_label[0] == from_ssl[-1]
        moved += from_ssl[-1] > 0
    assert moved == q.shape[0]  # the two objectives disagree for every query: the test can fail


def test_the_weight_trades_pair_recall_for_genre_consistency():
    q, c, y = _heads(n=80)
    r = [retrieval_metrics(Retriever.scores(q, c, w), y.numpy()) for w in (0.0, 0.5, 1.0)]
    assert r[0]["R@1"] > r[2]["R@1"] and r[0]["medR"] < r[2]["medR"]
    assert r[2]["genre@10"] > r[0]["genre@10"] and r[2]["genre@10"] > 0.9


def test_retrieval_metrics_by_hand():
    s = torch.eye(5)
    s = s + 0.01 * torch.arange(1.0, 6.0)  # no ties: after itself, every query ranks candidate 4 (3 for 4) next
    m = retrieval_metrics(s, [0, 0, 1, 1, 1], genre_ks=(10, 2))
    assert m["R@1"] == 1.0 and m["medR"] == 1.0
    assert m["genre@10"] == pytest.approx((2 * 2 + 3 * 3) / 25)  # top 10 of 5 = all candidates
    assert m["genre@2"] == pytest.approx((1 + 1 + 2 + 2 + 2) / 10)
    s = torch.tensor([[0.0, 1.0, 0.5], [0.2, 0.1, 0.9], [0.0, 0.0, 1.0]])  # ranks 3, 3, 1
    m = retrieval_metrics(s, ks=(1, 2))
    assert m["R@1"] == pytest.approx(1 / 3) and m["R@2"] == pytest.approx(1 / 3) and m["medR"] == 3.0
    with pytest.raises(Exception, match="square"):
        retrieval_metrics(torch.zeros(2, 3))


def test_the_knob_is_checked_and_the_sum_form_is_controllable_at_its_ends():
    q, c, _ = _heads(n=10)
    with pytest.raises(Exception, match="w must be in"):
        Retriever.scores(q, c, 1.5)
    torch.testing.assert_close(Retriever.scores(q, c, 0.0, "sum"), q[:, 0] @ c[:, 0].T)
    torch.testing.assert_close(Retriever.scores(q, c, 1.0, "sum"), q[:, 1] @ c[:, 1].T)
    # the scores form is the dot product of [sqrt(1-w) ssl, sqrt(w) label]: an index can serve it
    w = 0.3
    zq = torch.cat([np.sqrt(1 - w) * q[:, 0], np.sqrt(w) * q[:, 1]], 1)
    zc = torch.cat([np.sqrt(1 - w) * c[:, 0], np.sqrt(w) * c[:, 1]], 1)
    torch.testing.assert_close(Retriever.scores(q, c, w), zq @ zc.T)


def test_the_report_tables_read_a_bench_metrics_file(tmp_path, capsys):
    import json

    from jepakit_pairs.report import main
    from jepakit_pairs.retrieval import KNOB

    def row(task, method, w):
        r = {"task": task, "method": method, "kind": "evaluation", "fraction": 1.0, "seed": 0, "w": w,
             "R@1": 0.5, "R@5": 0.8, "R@10": 0.9, "medR": 2.0, "genre@10": 0.7, "genre@50": 0.6}
        r.update({f"{k}_w{x:g}": (1 - x) if k == "R@1" else x for x in KNOB for k in ("R@1", "genre@10", "genre@50")})
        return r

    rows = [row(t, m, w) for t in ("v2a", "a2v") for m, w in (("jepa[mixed]", 0.5), ("random-init", 0.0))]
    (tmp_path / "metrics.json").write_text(json.dumps({"rows": rows}))
    assert main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| video -> music | jepa[mixed] | 0.5 | 0.500 | 0.800 | 0.900 | 2 | 0.700 | 0.600 |" in out
    assert "| music -> video | jepa[mixed] | 1.000 / 0.000 / 0.000 | 0.750 / 0.250 / 0.250 |" in out
    (tmp_path / "bad.json").write_text("{}")
    assert main([str(tmp_path / "bad.json")]) == 2
    assert "holds no pairs retrieval rows" in capsys.readouterr().err
