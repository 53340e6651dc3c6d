"""Retrieval with an inference-time knob: query one modality, rank the other.

The score of a query ``q`` against a candidate ``c`` of the other modality is

    s_w(q, c) = (1 - w) * cos(ssl_q, ssl_c) + w * cos(label_q, label_c)

with ``ssl`` the heads trained by InfoNCE between pairs and ``label`` those trained by
supervised contrast on the labels; ``w`` is chosen per query, at inference, with no
retraining: 0 ranks by the pair objective, 1 by the label objective. It equals the dot
product of the embeddings ``[sqrt(1 - w) ssl, sqrt(w) label]``, so a vector index can
serve any fixed ``w``. Because every candidate's score is linear in ``w``, two candidates
swap order at most once as ``w`` goes from 0 to 1: the ranking moves monotonically from
the self-supervised one to the label one (:func:`discordant_pairs` measures it).
``combine="sum"`` is Control-MVR's form instead (Stewart et al. 2024,
arXiv:2412.05831): the cosine of the normalised ``(1 - w) ssl + w label`` embeddings;
it adds cross terms between the heads, and its monotonicity is not guaranteed.

Python: :class:`Retriever` (``Retriever.from_run("runs/pairs")``, ``.embed(items,
"video")``, ``.scores(q, c, w)``), :func:`retrieve`; command line: ``python -m
jepakit_pairs.retrieve RUN [--data PATH] [--query video] [--w 0.5] [--k 10]``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from jepakit.kit import check

KNOB = (0.0, 0.25, 0.5, 0.75, 1.0)  # the weights the benchmark reports
MODALITIES = ("video", "audio")


def _collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    return torch.utils.data.default_collate(items)


class Retriever:
    """The encoder and both towers' heads of a trained pair model (or, with no heads, a
    bare encoder: its pooled tokens serve as both "heads", as for random init)."""

    def __init__(self, backbone: torch.nn.Module, query_heads: torch.nn.Module | None = None,
                 key_heads: torch.nn.Module | None = None, query: str = "video"):
        names = [s.name for s in getattr(backbone, "segments", ())]
        check(len(names) == 2, f"retrieval needs an encoder of two segments (video and audio), this one has {names}")
        check(query in names, f"query modality {query!r} is not a segment of the encoder {names}")
        check((query_heads is None) == (key_heads is None), "give both towers' heads or neither")
        self.backbone, self.query = backbone, query
        self.heads = {} if query_heads is None else {query: query_heads, next(n for n in names if n != query): key_heads}
        self.names = names

    @classmethod
    def from_model(cls, model: Any, config: Mapping[str, Any] | None = None, encoder: torch.nn.Module | None = None) -> Retriever:
        """From a trained :class:`jepakit.model.JEPA` of this plugin (its predictor and
        target hold the heads); ``config``: the run's, for the masker's query modality."""
        query = str(((config or {}).get("masker") or {}).get("query", "video"))
        qh = getattr(model.predictor, "proj", None)
        kh = getattr(model.target, "proj", None)
        check(qh is not None and kh is not None,
              "this model has no pair heads (predictor pair-heads and target pair-key); retrieve from a run of the pairs domain")
        return cls(encoder if encoder is not None else model.backbone, qh, kh, query)

    @classmethod
    def from_run(cls, path: Any, data: Any = None) -> tuple[Retriever, Any]:
        """``(retriever, run)`` from a run or checkpoint folder (``data``: other data to read
        with the run's settings)."""
        from jepakit.train import load_run

        run = load_run(path, data=data)
        return cls.from_model(run.model, run.config), run

    def segment_idx(self, modality: str, batch_size: int) -> Tensor:
        check(modality in self.names, f"modality must be one of {self.names}, got {modality!r}")
        start = 0
        for s in self.backbone.segments:
            if s.name == modality:
                return torch.arange(start, start + s.num_tokens).expand(batch_size, -1)
            start += s.num_tokens
        raise AssertionError(modality)

    @torch.no_grad()
    def embed(self, items: Any, modality: str, batch_size: int = 128) -> Tensor:
        """``(n, H, D)`` unit-norm embeddings of ``items`` (a dataset of pair items, or one
        collated batch) seen through ``modality`` alone: H = 2 heads (ssl, label), or 1
        for a bare encoder."""
        self.backbone.eval()
        for h in self.heads.values():
            h.eval()
        batches = [items] if isinstance(items, Mapping) else [
            _collate([items[i] for i in range(s, min(s + batch_size, len(items)))]) for s in range(0, len(items), batch_size)]
        device = next(self.backbone.parameters()).device
        out = []
        for batch in batches:
            batch = {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}
            b = batch["video"].shape[0]
            p = getattr(self.backbone, "num_prefix", 0)
            pooled = self.backbone(batch, self.segment_idx(modality, b).to(device))[:, p:].mean(1)
            z = self.heads[modality](pooled) if self.heads else pooled[:, None]  # (B, H, D)
            out.append(F.normalize(z.float(), dim=-1).cpu())
        return torch.cat(out)

    @staticmethod
    def scores(q: Tensor, c: Tensor, w: float, combine: str = "scores") -> Tensor:
        """``(nq, nc)`` scores of queries ``q`` (nq, H, D) against candidates ``c`` (nc, H, D)
        at knob ``w`` (see the module doc)."""
        check(0.0 <= float(w) <= 1.0, f"the retrieval weight w must be in [0, 1], got {w}")
        check(combine in ("scores", "sum"), f"combine must be 'scores' or 'sum', got {combine!r}")
        if q.shape[1] == 1:  # one embedding: no knob
            return q[:, 0] @ c[:, 0].T
        if combine == "sum":
            zq = F.normalize((1 - w) * q[:, 0] + w * q[:, 1], dim=-1)
            zc = F.normalize((1 - w) * c[:, 0] + w * c[:, 1], dim=-1)
            return zq @ zc.T
        return (1 - w) * (q[:, 0] @ c[:, 0].T) + w * (q[:, 1] @ c[:, 1].T)


# -- metrics ------------------------------------------------------------------------------


def retrieval_metrics(scores: Tensor, labels: Sequence[int] | None = None, ks: Sequence[int] = (1, 5, 10),
                      genre_ks: Sequence[int] = (10, 50)) -> dict[str, float]:
    """Query ``i``'s true match is candidate ``i``: Recall@k (share of queries whose match
    is in the top k), the median rank of the match (1 = first), and, with ``labels``,
    ``genre@k``: the share of the top k candidates that share the query's label (k = 10:
    what a user scrolls through; k = 50: deep enough that ranking by the pair alone runs
    out of near neighbours, 50 of the 128 test pairs a genre has in the benchmark)."""
    s = scores.float()
    n = s.shape[0]
    check(s.shape == (n, n), f"scores must be square (query i matches candidate i), got {tuple(s.shape)}")
    true = s.diagonal().unsqueeze(1)
    rank = (s > true).sum(1) + 1  # ties count in the match's favour
    out = {f"R@{k}": float((rank <= k).float().mean()) for k in ks}
    out["medR"] = float(rank.float().median())
    if labels is not None:
        y = torch.as_tensor(np.asarray(labels))
        for k in genre_ks:
            top = s.topk(min(int(k), n), dim=1).indices
            out[f"genre@{k}"] = float((y[top] == y[:, None]).float().mean())
    return out


def discordant_pairs(a: Tensor, b: Tensor) -> int:
    """Candidate pairs ordered differently by score rows ``a`` and ``b`` (``(n,)`` each):
    the Kendall distance between the two rankings."""
    da = torch.sign(a[:, None] - a[None, :])
    db = torch.sign(b[:, None] - b[None, :])
    return int(((da * db) < 0).sum()) // 2


# -- the benchmark's evaluation -------------------------------------------------------------

_CACHE: dict[tuple, tuple[Any, dict]] = {}


def _evaluate_all(encoder: Any, model: Any, bundle: Any, config: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """Every direction at every knob value (and the headline weight), computed once per
    encoder and bundle: the bench asks once per label fraction and seed, and retrieval
    uses no labels to fit."""
    key = (id(encoder), id(model), id(bundle))
    hit = _CACHE.get(key)
    if hit is not None and hit[0] == (encoder, model, bundle):
        return hit[1]
    task = bundle.tasks.get("genre")
    check(task is not None, "pair retrieval needs the 'genre' task's test pairs as its gallery; this data has none")
    ret = Retriever(encoder) if model is None else Retriever.from_model(model, config, encoder)
    test = task.test
    labels = np.asarray([test[i]["label"] for i in range(len(test))]) if getattr(test, "labels", None) is None else np.asarray(test.labels)
    emb = {m: ret.embed(test, m) for m in ret.names}
    alpha = float(((config or {}).get("loss") or {}).get("alpha", 0.5)) if model is not None else 0.0
    q, k = ret.query, next(n for n in ret.names if n != ret.query)
    out: dict[str, dict[str, float]] = {}
    for direction, (a, b) in {"v2a": (q, k), "a2v": (k, q)}.items():
        res: dict[str, float] = {"w": alpha}
        res.update(retrieval_metrics(Retriever.scores(emb[a], emb[b], alpha), labels))
        for w in KNOB:
            for name, v in retrieval_metrics(Retriever.scores(emb[a], emb[b], w), labels).items():
                res[f"{name}_w{w:g}"] = v
        out[direction] = res
    while len(_CACHE) >= 8:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[key] = ((encoder, model, bundle), out)
    return out


def video_to_music(encoder: Any, model: Any, bundle: Any, config: Mapping[str, Any]) -> dict[str, float]:
    """Query each test clip's video, rank the test pairs' music (the bench's ``v2a``):
    R@1/5/10, median rank and genre@10 at the variant's training weight ``loss.alpha``
    (``w``; random init: its pooled tokens, no knob), and each at every ``w`` of
    :data:`KNOB` (``R@1_w0.25``...)."""
    return _evaluate_all(encoder, model, bundle, config)["v2a"]


def music_to_video(encoder: Any, model: Any, bundle: Any, config: Mapping[str, Any]) -> dict[str, float]:
    """Query each test pair's music, rank the test clips' videos (the bench's ``a2v``)."""
    return _evaluate_all(encoder, model, bundle, config)["a2v"]


# -- the Python twin of a `jepakit retrieve` ------------------------------------------------


def retrieve(run: Any, data: Any = None, query: str = "video", w: float = 0.5, k: int = 10, items: Sequence[int] | None = None,
             combine: str = "scores") -> list[dict[str, Any]]:
    """Rank the other modality of the run's test pairs (or of ``data``'s) for each query
    item's ``query`` modality at knob ``w``: one dict per query with ``query`` (its id),
    ``ids`` and ``scores`` of the top ``k`` candidates and ``rank`` of its own pair."""
    ret, loaded = Retriever.from_run(run, data=data)
    task = loaded.bundle.tasks.get("genre")
    gallery = task.test if task is not None else loaded.bundle.pretrain
    other = next(n for n in ret.names if n != query)
    check(query in ret.names, f"--query must be one of {ret.names}, got {query!r}")
    q = ret.embed(gallery, query)
    c = ret.embed(gallery, other)
    s = Retriever.scores(q, c, w, combine)
    ids = list(getattr(gallery, "ids", range(len(gallery))))
    picked = range(len(gallery)) if items is None else items
    out = []
    for i in picked:
        check(0 <= int(i) < len(gallery), f"item {i} is out of range: the gallery has {len(gallery)} pairs")
        top = s[int(i)].topk(min(int(k), s.shape[1]))
        out.append({"query": str(ids[int(i)]), "ids": [str(ids[j]) for j in top.indices.tolist()],
                    "scores": [round(float(x), 4) for x in top.values], "rank": int((s[int(i)] > s[int(i), int(i)]).sum()) + 1})
    return out


def main(argv: Sequence[str] | None = None) -> int:
    from jepakit.errors import JepakitError

    ap = argparse.ArgumentParser(prog="python -m jepakit_pairs.retrieve", description=__doc__.split("\n\n")[0])
    ap.add_argument("run", help="a run or checkpoint folder of the pairs domain")
    ap.add_argument("--data", default=None, help="a folder of pairs to search instead of the run's test pairs")
    ap.add_argument("--query", default="video", choices=MODALITIES, help="the modality of the queries (the other is ranked)")
    ap.add_argument("--w", type=float, default=0.5, help="0: rank by the pair (self-supervised) heads, 1: by the label heads")
    ap.add_argument("--k", type=int, default=10, help="candidates listed per query")
    ap.add_argument("--items", default=None, help="comma-separated query item numbers (default: all)")
    ap.add_argument("--combine", default="scores", choices=("scores", "sum"), help="mix similarities (default) or embeddings (Control-MVR)")
    args = ap.parse_args(argv)
    try:
        items = None if args.items is None else [int(x) for x in args.items.split(",") if x.strip()]
        for row in retrieve(args.run, args.data, args.query, args.w, args.k, items, args.combine):
            print(json.dumps(row))
    except (JepakitError, ValueError) as exc:
        print(f"error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())


__all__ = ["KNOB", "Retriever", "discordant_pairs", "main", "music_to_video", "retrieval_metrics", "retrieve", "video_to_music"]
