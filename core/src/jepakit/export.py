"""Use a pretrained encoder outside jepakit: export it, load it, embed a dataset to a file.

An *export* is a folder that holds everything needed to rebuild the encoder, and
nothing that needs pickle or the training data:

* ``encoder.safetensors``: the weights of the encoder that ``eval.encoder`` names (the
  online backbone, or the EMA target's copy of it), keyed as :class:`~jepakit.model.Backbone`
  names them;
* ``encoder.json``: the format version, the domain, the plugins (distribution and
  version) that provide its tokenizer and domain, the jepakit version, the run's config,
  the data facts its tokenizer was built from (``DataBundle.info``, e.g. a table's fitted
  schema), its loader's state (``bundle_state``: ``DataBundle.state``, handed back to the
  loader when data is embedded; an export written before it holds only ``info``, which
  stands for it), the token layout (``grid``, ``num_prefix``), the width, the default pooling and
  the sha256 of the weights;
* ``MODEL_CARD.md``: what it is, how it was trained, its RankMe and benchmark table.

:func:`load_encoder` rebuilds the encoder from that folder (or straight from a run
folder or checkpoint) with the tokenizer's plugin installed but none of its data:
the tokenizer is built from the saved config and data facts alone.
:func:`embed_to_file` streams a dataset read by the domain's loader through it into a
Parquet or ``.npy`` file, one row per item, with the item ids.

Item ids
--------
An item's id is, in this order:

1. ``str(dataset.ids[i])`` when the dataset has an ``ids`` sequence (one per item; the
   plugins' pretraining datasets have one: record name and window for ECG/EEG, file for
   LiDAR scans, scene and chip for SAR, table row for tabular);
2. ``str(item["id"])`` when the item dict holds an ``"id"``;
3. the item's index ``str(i)``.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load as load_bytes
from safetensors.torch import save as save_bytes

from . import __version__
from . import config as cfgmod
from .errors import DataError, JepakitError, notice

FORMAT = "jepakit-encoder"
FORMAT_VERSION = 1
WEIGHTS = "encoder.safetensors"
META = "encoder.json"
CARD = "MODEL_CARD.md"
EXPORT_FILES = (WEIGHTS, META, CARD)
FORMATS = (".parquet", ".npy")


# -- item ids ---------------------------------------------------------------------------


def item_id(dataset: Any, index: int, item: Mapping[str, Any] | None = None, ids: Sequence[Any] | None = None) -> str:
    """The id of item ``index`` of ``dataset`` (see the module doc): ``dataset.ids[index]``,
    else ``item["id"]``, else ``str(index)``. ``ids``: ``dataset.ids`` read once by the
    caller (a property may build it on every access)."""
    if ids is None:
        ids = dataset_ids(dataset)
    if ids is not None:
        return str(ids[index])
    if isinstance(item, Mapping) and "id" in item:
        value = item["id"]
        return str(value.item() if torch.is_tensor(value) and value.ndim == 0 else value)
    return str(index)


def dataset_ids(dataset: Any) -> Sequence[Any] | None:
    """``dataset.ids`` when it is a sequence as long as the dataset, else None."""
    try:
        ids = getattr(dataset, "ids", None)
    except Exception:  # a property that cannot answer for this dataset
        return None
    if ids is None or isinstance(ids, (str, bytes)) or not hasattr(ids, "__getitem__") or not hasattr(ids, "__len__"):
        return None
    try:
        if len(ids) != len(dataset):
            notice(f"dataset.ids holds {len(ids)} ids for {len(dataset)} items; using item indices as ids")
            return None
    except TypeError:
        return None
    return ids


# -- building the encoder without data --------------------------------------------------


def tokenizer_layout(tokenizer: torch.nn.Module) -> tuple[tuple[int, ...], int, tuple[Any, ...]] | None:
    """``(grid, num_prefix, segments)`` of a tokenizer without a batch: its layout of an
    empty batch when it answers one (a layout that depends on no input, as a table's
    columns), else its ``grid`` attribute (the patch, ECG, EEG, LiDAR and SAR tokenizers
    have one), the length of its prefix and its ``segments`` attribute (if any); None when
    neither is known."""
    try:
        layout = tokenizer.layout({})
        segs = tuple((seg.name, seg.grid) for seg in layout.segments)
        return tuple(int(g) for g in layout.grid), int(layout.num_prefix), segs
    except Exception:  # the layout reads the batch (flags of valid tokens...)
        pass
    grid = getattr(tokenizer, "grid", None)
    if grid is None:
        return None
    try:
        grid = tuple(int(g) for g in grid)
        pre = tokenizer.prefix(1)
    except Exception:
        return None
    segs = tuple((getattr(seg, "name", None) or seg[0], getattr(seg, "grid", None) or seg[1]) for seg in getattr(tokenizer, "segments", ()))
    return grid, 0 if pre is None else int(pre.shape[1]), segs


def build_encoder(
    config: Mapping[str, Any], info: Mapping[str, Any], grid: Sequence[int] | None = None, num_prefix: int | None = None,
    segments: Sequence[Sequence[Any]] = (),
) -> Any:
    """The (untrained) :class:`~jepakit.model.Backbone` of ``config`` from the data facts
    ``info`` alone: the tokenizer gets the facts a run offered it (width, steps, ``info``);
    the layout is ``grid``/``num_prefix`` or, when not given, read off the tokenizer.
    Raises a one-line :class:`JepakitError` when the tokenizer's plugin is missing or the
    layout cannot be known without data."""
    from .model import Backbone
    from .plugins import create, registry

    m = config["model"]
    name, kwargs = cfgmod.component(config, "tokenizer")
    if name not in registry("tokenizer"):
        raise JepakitError(f"tokenizer {name!r} is not installed: install the plugin that provides it (`jepakit domains` lists them)")
    offered = {"dim": m["width"], "steps": int(config["train"]["steps"]), **dict(info or {})}
    tokenizer = create("tokenizer", name, kwargs, offered)
    if grid is None:
        layout = tokenizer_layout(tokenizer)
        if layout is None:
            raise JepakitError(f"tokenizer {name!r} has no 'grid' attribute, so its token layout cannot be known without data")
        grid, num_prefix, segments = layout
    from .contract import Segment

    segs = tuple(Segment(str(sname), tuple(int(g) for g in sgrid)) for sname, sgrid in segments)
    return Backbone(
        tokenizer, tuple(int(g) for g in grid), int(num_prefix or 0), m["width"], m["depth"], m["heads"], m["mlp_ratio"], m["pos"],
        m["drop_path"], segments=segs,
    )


def _load_strict(backbone: torch.nn.Module, weights: Mapping[str, torch.Tensor], where: Any) -> None:
    try:
        result = backbone.load_state_dict(dict(weights), strict=False)
    except RuntimeError as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        detail = next((ln for ln in lines if "mismatch" in ln), lines[-1] if lines else "")
        raise JepakitError(f"{where} does not match the encoder its config describes: {detail}") from None
    if result.missing_keys or result.unexpected_keys:
        what = f"lacks {result.missing_keys[:3]}" if result.missing_keys else f"holds unknown {result.unexpected_keys[:3]}"
        raise JepakitError(f"{where} does not match the encoder its config describes: it {what}")


def _encoder_prefix(weights: Mapping[str, torch.Tensor], keys: Sequence[str], which: str) -> str:
    """The prefix under which a model's state dict holds the eval encoder: ``backbone.``
    for the online one; for ``target``, another copy of the backbone (the EMA target's),
    falling back to the online one as :meth:`JEPA.encoder_for_eval` does."""
    if which not in ("online", "target"):
        raise JepakitError(f"eval.encoder must be online or target, got {which!r}")
    k0 = min(keys, key=len)
    found = sorted({w[: -len(k0)] for w in weights if w.endswith(k0)}, key=lambda p: ("target" not in p, len(p), p))
    found = [p for p in found if all(p + k in weights for k in keys)]
    if which == "target":
        others = [p for p in found if p != "backbone."]
        if others:
            return others[0]
    if "backbone." in found:
        return "backbone."
    raise JepakitError("the checkpoint holds no weights of the encoder its config describes")


class _Source:
    """A rebuilt encoder and what it was rebuilt from."""

    def __init__(self, encoder: Any, meta: dict[str, Any], ckpt: Path | None = None, state: dict[str, Any] | None = None):
        self.encoder, self.meta, self.ckpt, self.state = encoder, meta, ckpt, state


def _looks_like_run(p: Path) -> bool:
    from .checkpoint import _is_checkpoint_dir

    return (p / "checkpoints").is_dir() or (p.name == "checkpoints" and p.is_dir()) or _is_checkpoint_dir(p)


def _not_an_encoder(p: Path) -> JepakitError:
    return JepakitError(f"{p} is not a jepakit export (no {META}), run folder or checkpoint")


def _plugin_of(kind: str, name: str) -> dict[str, Any] | None:
    """The plugin that registered component ``name`` of ``kind``: its name, distribution
    and version (None when nothing registers it)."""
    import importlib.metadata as md

    from .plugins import ENTRY_POINT_GROUP, plugins, registry

    entry = registry(kind).get(name)
    if entry is None:
        return None
    plugin = entry.plugin
    if plugin == "jepakit":
        return {"name": "jepakit", "distribution": "jepakit", "version": __version__}
    dist, version = None, None
    for ep in md.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == plugin and ep.dist is not None:
            dist, version = ep.dist.metadata["Name"], ep.dist.version
            break
    if version is None:
        version = next((p.version for p in plugins() if p.name == plugin), "") or None
    return {"name": plugin, "distribution": dist, "version": version}


def _from_checkpoint(p: Path) -> _Source:
    from .checkpoint import BUNDLE_STATE, bundle_state, read_checkpoint

    if not _looks_like_run(p):
        raise _not_an_encoder(p)
    ckpt, state, weights = read_checkpoint(p)
    cfg, info = state["config"], dict(state.get("info") or {})
    which = str((cfg.get("eval") or {}).get("encoder", "online"))
    try:
        backbone = build_encoder(cfg, info)
    except JepakitError as exc:
        if "without data" not in str(exc):
            raise
        backbone = _build_from_data(cfg, state)  # a third-party tokenizer without a grid attribute
    keys = list(backbone.state_dict())
    prefix = _encoder_prefix(weights, keys, which)
    _load_strict(backbone, {k[len(prefix):]: v for k, v in weights.items() if k.startswith(prefix)}, f"checkpoint {ckpt}")
    backbone.eval()
    meta = _meta(cfg, state["domain"], info, backbone, which)
    meta[BUNDLE_STATE] = bundle_state(state)  # an old checkpoint's info stands for it (see bundle_state)
    meta["source"] = {"checkpoint": str(ckpt), "step": state.get("step"), "run_id": state.get("run_id")}
    return _Source(backbone, meta, ckpt, state)


def _build_from_data(cfg: Mapping[str, Any], state: Mapping[str, Any]) -> Any:
    """The backbone with its layout read off two items of the run's data (for a
    tokenizer that cannot say its grid without a batch)."""
    from .checkpoint import bundle_state
    from .plugins import get_domain
    from .train import build_backbone, load_bundle

    notice(f"tokenizer {cfg['tokenizer'].get('name')!r} has no 'grid' attribute; its layout is read off the run's data")
    bundle = load_bundle(get_domain(state["domain"]), cfg, bundle_state(state))
    return build_backbone(cfg, bundle)


def _meta(cfg: Mapping[str, Any], domain: str, info: Mapping[str, Any], backbone: Any, which: str) -> dict[str, Any]:
    tok_name = cfg["tokenizer"].get("name")
    pool = str((cfg.get("eval") or {}).get("pool", "mean"))
    return {
        "format": FORMAT, "format_version": FORMAT_VERSION, "jepakit_version": __version__, "domain": domain,
        "plugin": _plugin_of("tokenizer", tok_name), "domain_plugin": _plugin_of("domain", domain),
        "tokenizer": tok_name, "encoder": which, "config": cfg, "info": dict(info),
        "layout": {"grid": list(backbone.grid), "num_prefix": backbone.num_prefix,
                   # a segmented layout's parts (two modalities), only where it has them
                   **({"segments": [[seg.name, list(seg.grid)] for seg in backbone.segments]} if backbone.segments else {})},
        "width": backbone.width, "num_tokens": backbone.num_tokens, "pool": pool,
        "embedding_dim": backbone.pooled_dim(pool),
    }


def _read_meta(folder: Path) -> dict[str, Any]:
    try:
        meta = json.loads((folder / META).read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise JepakitError(f"{folder / META} cannot be read: {getattr(exc, 'strerror', None) or exc}") from None
    except ValueError:
        raise JepakitError(f"{folder / META} is not valid JSON") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise JepakitError(f"{folder / META} is not a jepakit encoder description")
    version = meta.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise JepakitError(f"{folder} was exported in format {version!r}; this jepakit {__version__} reads format {FORMAT_VERSION}: upgrade jepakit")
    for key in ("config", "info", "layout", "domain", "weights"):
        if key not in meta:
            raise JepakitError(f"{folder / META} lacks {key!r}")
    return meta


def _from_export(folder: Path) -> _Source:
    meta = _read_meta(folder)
    try:
        blob = (folder / WEIGHTS).read_bytes()
    except OSError as exc:
        raise JepakitError(f"{folder / WEIGHTS} cannot be read: {exc.strerror or exc}") from None
    expected = (meta.get("weights") or {}).get("sha256")
    if hashlib.sha256(blob).hexdigest() != expected:
        raise JepakitError(f"{folder / WEIGHTS} fails its sha256 check against {META}: the export is damaged")
    try:
        weights = load_bytes(blob)
    except Exception:  # safetensors' own error types
        raise JepakitError(f"{folder / WEIGHTS} is not a readable safetensors file") from None
    plugin = meta.get("plugin") or {}
    try:
        backbone = build_encoder(meta["config"], meta["info"], meta["layout"]["grid"], meta["layout"]["num_prefix"],
                                 meta["layout"].get("segments", ()))
    except JepakitError as exc:
        if "is not installed" in str(exc) and plugin.get("distribution"):
            raise JepakitError(
                f"this encoder needs tokenizer {meta.get('tokenizer')!r} of {plugin['distribution']} {plugin.get('version') or ''}".rstrip()
                + f": pip install {plugin['distribution']}"
            ) from None
        raise
    installed = _plugin_of("tokenizer", meta.get("tokenizer") or "")
    if installed and plugin.get("version") and installed.get("version") and installed["version"] != plugin["version"]:
        notice(f"{folder} was exported with {plugin.get('distribution') or plugin.get('name')} {plugin['version']}; "
               f"{installed['version']} is installed")
    _load_strict(backbone, weights, folder / WEIGHTS)
    backbone.eval()
    return _Source(backbone, meta)


def _open(path: str | os.PathLike) -> _Source:
    p = Path(path)
    if not p.exists():
        raise JepakitError(f"{p} does not exist")
    if (p / META).is_file():
        return _from_export(p)
    if not p.is_dir():
        raise _not_an_encoder(p)
    return _from_checkpoint(p)


def load_encoder(path: str | os.PathLike) -> torch.nn.Module:
    """The pretrained encoder of an export folder (:func:`export_run`), a run folder or a
    checkpoint folder, in eval mode: a :class:`~jepakit.model.Backbone` (``encoder(batch)``
    -> ``(B, P + N, width)`` tokens, ``encoder.embed(batch, pool="mean")`` -> ``(B, D)``).

    Built from safetensors and JSON alone: no pickle, no data read. The plugin that
    provides its tokenizer must be installed. ``encoder.meta`` holds the description
    (``encoder.json``'s fields: domain, config, data facts, default pool...)."""
    source = _open(path)
    source.encoder.meta = source.meta
    return source.encoder


# -- export -----------------------------------------------------------------------------


def _is_export(folder: Path) -> bool:
    try:
        meta = json.loads((folder / META).read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    return isinstance(meta, dict) and meta.get("format") == FORMAT


def _write(path: Path, data: bytes) -> None:
    """Written durably under a temporary name, then renamed into place."""
    from .checkpoint import write_durably

    tmp = path.with_name(f".{path.name}.tmp")
    write_durably(tmp, data)
    os.replace(tmp, path)


def export_run(run_or_checkpoint: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Write the eval encoder of a run folder or checkpoint into the folder ``out``
    (``encoder.safetensors``, ``encoder.json``, ``MODEL_CARD.md``; see the module doc)
    and return ``out``. ``out`` must be new, empty or a previous export (whose files
    are replaced); anything else is refused in one line. Python twin of
    ``jepakit export RUN OUT``."""
    src, out = Path(run_or_checkpoint), Path(out)
    if not src.exists():
        raise JepakitError(f"{src} does not exist")
    if (src / META).is_file():
        raise JepakitError(f"{src} is already an export; export a run folder or checkpoint")
    if out.exists() and not out.is_dir():
        raise JepakitError(f"{out} is a file, not a folder; give a folder for the export")
    if out.is_dir() and any(out.iterdir()) and not _is_export(out):
        raise JepakitError(f"{out} is not empty and holds no previous export; give a new or empty folder")
    source = _from_checkpoint(src)
    backbone, meta = source.encoder, dict(source.meta)
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in backbone.state_dict().items()}
    blob = save_bytes(tensors, metadata={"format": FORMAT, "domain": str(meta["domain"])})
    meta["weights"] = {"file": WEIGHTS, "sha256": hashlib.sha256(blob).hexdigest(), "bytes": len(blob),
                       "parameters": int(sum(t.numel() for t in tensors.values()))}
    meta["exported"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    out.mkdir(parents=True, exist_ok=True)
    _write(out / WEIGHTS, blob)
    _write(out / META, json.dumps(meta, indent=1, default=str).encode())
    _write(out / CARD, model_card(meta, source).encode())
    return out


# -- model card -------------------------------------------------------------------------


def _short(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _bench_metrics(run_dir: Path) -> tuple[Path, dict[str, Any]] | None:
    """The metrics of an evaluation or a benchmark of this run: ``RUN/evaluation``,
    or a bench folder above it (``BENCH/<variant>`` or ``BENCH/<dataset>/<variant>``)
    whose metrics name this run's variant."""
    cands = [(run_dir / "evaluation" / "metrics.json", None)]
    cands += [(run_dir.parent / "metrics.json", run_dir.name), (run_dir.parent.parent / "metrics.json", run_dir.name)]
    for path, variant in cands:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError, UnicodeDecodeError):
            continue
        if not isinstance(data, dict) or not isinstance(data.get("summary"), list):
            continue
        if variant is not None:
            runs = data.get("pretraining") or {}
            if not any(k == variant or str(k).endswith(":" + variant) for k in runs):
                continue
        return path, data
    return None


def model_card(meta: Mapping[str, Any], source: _Source | None = None) -> str:
    """``MODEL_CARD.md`` of an export: Markdown."""
    from .checkpoint import checkpoint_history

    cfg = meta["config"]
    m, t = cfg["model"], cfg["train"]
    history = checkpoint_history(source.ckpt, source.state) if source is not None and source.ckpt is not None else []
    step = (meta.get("source") or {}).get("step")
    plugin = meta.get("plugin") or {}
    dist = plugin.get("distribution") or plugin.get("name") or "the plugin"
    layout = meta["layout"]
    lines = [f"# {meta['domain']} encoder (jepakit)", ""]
    lines += [
        f"A self-supervised encoder pretrained with jepakit {meta['jepakit_version']} on `{meta['domain']}` data, "
        f"exported from `{(meta.get('source') or {}).get('checkpoint')}`.", "",
        "## Use", "", "```python", "from jepakit import load_encoder", "", 'encoder = load_encoder("path/to/this/folder")',
        f'z = encoder.embed(batch, pool="{meta["pool"]}")   # (B, {meta["embedding_dim"]}); pool="tokens": (B, {meta["num_tokens"]}, {meta["width"]})',
        "```", "",
        f"or `jepakit embed path/to/this/folder --data DATA --out embeddings.parquet`. Needs jepakit and "
        f"{dist}{' ' + plugin['version'] if plugin.get('version') else ''} installed (its code; none of its data).", "",
        "## Data", "",
        f"- domain: `{meta['domain']}`",
        "- data: " + (f"`{cfg['data']['path']}`" if cfg["data"].get("path") else "the domain's embedded default data"),
    ]
    options = {k: v for k, v in cfg["data"].items() if k != "path"}
    if options:
        lines.append("- data options: " + ", ".join(f"`{k}={_short(v, 40)}`" for k, v in options.items()))
    for k, v in meta["info"].items():
        lines.append(f"- data fact `{k}`: `{_short(v)}`")
    tok = {k: v for k, v in cfg["tokenizer"].items() if k != "name"}
    recipe = (cfg.get("recipe") or {}).get("name", "jepa")
    lines += [
        "", "## Architecture", "",
        f"- tokenizer `{meta['tokenizer']}`" + (f" ({', '.join(f'{k}={_short(v, 30)}' for k, v in tok.items())})" if tok else ""),
        f"- token grid {tuple(layout['grid'])} ({meta['num_tokens']} tokens) + {layout['num_prefix']} prefix tokens",
        f"- transformer: width {m['width']}, depth {m['depth']}, heads {m['heads']}, mlp ratio {m['mlp_ratio']}, positions `{m['pos']}`",
        f"- {((meta.get('weights') or {}).get('parameters') or 0):,} parameters; the `{meta['encoder']}` encoder of the run",
        f"- recipe `{recipe}`, target `{(cfg.get('target') or {}).get('name')}`",
        f"- default pooling `{meta['pool']}` -> {meta['embedding_dim']} features",
        "", "## Training", "",
    ]
    done = step if step is not None else len(history)
    lines.append(f"- steps: {done} of {t['steps']} (batch size {t['batch_size']}, lr {t['lr']}, seed {t['seed']})")
    losses = [r["loss"] for r in history if isinstance(r.get("loss"), (int, float))]
    lines.append(f"- final loss: {losses[-1]:.4f}" if losses else "- final loss: not recorded")
    health = [r for r in history if isinstance(r.get("rankme"), (int, float))]
    if health:
        last = health[-1]
        state = " (collapsed)" if last.get("collapsed") else ""
        lines.append(f"- RankMe of the last collapse-guard check: {last['rankme']:.1f} at step {last.get('step')} of width {m['width']}{state}")
    else:
        lines.append("- RankMe: no collapse-guard check was recorded")
    lines += ["", "## Benchmark", ""]
    run_dir = None
    if source is not None and source.ckpt is not None:
        run_dir = source.ckpt.parent.parent if source.ckpt.parent.name == "checkpoints" else source.ckpt
    found = _bench_metrics(run_dir) if run_dir is not None else None
    if found is None:
        lines.append("No benchmark was run for this encoder (`jepakit evaluate RUN` or `jepakit bench` would add one).")
    else:
        from .report import table

        path, data = found
        ranks = data.get("rankme") if isinstance(data.get("rankme"), dict) else None
        body = table(data["summary"], None, ranks) if data["summary"] else ""
        if not body and ranks:
            body = "No labelled task: RankMe only, " + ", ".join(f"{k} {v:.1f}" for k, v in ranks.items() if isinstance(v, (int, float)))
        lines.append(f"From `{path}`:")
        lines += ["", body or "(no probe results)"]
    return "\n".join(lines) + "\n"


# -- embed ------------------------------------------------------------------------------


def load_data(meta: Mapping[str, Any], data: Any = None) -> Any:
    """The :class:`DataBundle` of ``data`` (a path or an in-memory object; None: the
    run's own data) read by the domain's loader with the state its loader saved
    (``bundle_state``; an older export's ``info``), as :func:`jepakit.train.load_run`
    reads it."""
    from .checkpoint import bundle_state
    from .plugins import get_domain
    from .train import config_for_data, load_bundle

    dom = get_domain(meta["domain"])
    cfg, obj = config_for_data(dom, meta["config"], data)
    return load_bundle(dom, cfg, bundle_state(meta), data=obj)


class _NpyWriter:
    def __init__(self, out: Path, n: int, shape: tuple[int, ...]):
        from numpy.lib.format import open_memmap

        self.out, self.n = out, n
        self.tmp = out.with_name(f".{out.name}.tmp.npy")
        self.ids_out = out.with_name(out.name + ".ids.json")
        self.ids_tmp = out.with_name(f".{out.name}.ids.json.tmp")
        self.array = open_memmap(self.tmp, mode="w+", dtype=np.float32, shape=(n, *shape))
        self.ids = open(self.ids_tmp, "w", encoding="utf-8")
        self.ids.write("[")
        self.at = 0

    def write(self, ids: list[str], z: np.ndarray) -> None:
        self.array[self.at : self.at + len(z)] = z
        self.ids.write(("," if self.at else "") + ",".join(json.dumps(i) for i in ids))
        self.at += len(z)

    def close(self) -> None:
        self.array.flush()
        del self.array
        self.ids.write("]\n")
        self.ids.close()
        os.replace(self.tmp, self.out)
        os.replace(self.ids_tmp, self.ids_out)

    def abort(self) -> None:
        self.__dict__.pop("array", None)
        self.ids.close()
        self.tmp.unlink(missing_ok=True)
        self.ids_tmp.unlink(missing_ok=True)


class _ParquetWriter:
    def __init__(self, out: Path, n: int, shape: tuple[int, ...]):
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise JepakitError("writing .parquet needs pyarrow (pip install pyarrow); or write .npy") from None
        self.pa, self.out, self.shape = pa, out, shape
        self.tmp = out.with_name(f".{out.name}.tmp")
        kind = pa.float32()
        for d in reversed(shape):
            kind = pa.list_(kind, d)
        self.schema = pa.schema([("id", pa.string()), ("embedding", kind)])
        self.writer = pq.ParquetWriter(self.tmp, self.schema)

    def write(self, ids: list[str], z: np.ndarray) -> None:
        pa = self.pa
        arr: Any = pa.array(np.ascontiguousarray(z, dtype=np.float32).reshape(-1))
        for d in reversed(self.shape):
            arr = pa.FixedSizeListArray.from_arrays(arr, d)
        self.writer.write_table(pa.Table.from_arrays([pa.array(ids, pa.string()), arr], schema=self.schema))

    def close(self) -> None:
        self.writer.close()
        os.replace(self.tmp, self.out)

    def abort(self) -> None:
        try:
            self.writer.close()
        finally:
            self.tmp.unlink(missing_ok=True)


def check_output(out: str | os.PathLike) -> str:
    """The format of an embedding file by its extension, or a one-line error."""
    ext = Path(out).suffix.lower()
    if ext not in FORMATS:
        raise JepakitError(f"--out {out}: cannot tell the format from {ext or 'no extension'!s}; use .parquet or .npy")
    return ext


@torch.no_grad()
def embed_to_file(
    checkpoint: str | os.PathLike, data: Any, out: str | os.PathLike, pool: str = "mean", batch_size: int = 64,
    device: str = "auto", echo: bool = True, segment: str | None = None,
) -> Path:
    """Embed every item of ``data`` (the pretraining dataset the domain's loader makes
    of it; None: the run's own data) with the encoder of ``checkpoint`` (an export, a
    run folder or a checkpoint) into ``out``, streaming batch by batch:

    * ``.parquet``: columns ``id`` (string) and ``embedding`` (fixed-size list of float32;
      ``pool="tokens"``: a list of ``N`` token lists), one row group per batch;
    * ``.npy``: a float32 array ``(n, D)`` (``tokens``: ``(n, N, width)``) and the ids
      beside it in ``OUT.ids.json`` (a JSON list).

    ``pool``: ``tokens`` or statistics joined by ``+`` (``mean``, ``mean+std``, ``flat``...).
    ``segment``: of a segmented layout (two modalities), that segment's tokens alone.
    Item ids follow the protocol of the module doc. Returns ``out``. Python twin of
    ``jepakit embed``."""
    from .model import pool_stats
    from .progress import progress
    from .train import collate_of, pick_device, seed_everything, to_device

    out = Path(out)
    ext = check_output(out)
    if pool != "tokens":
        pool_stats(pool)
    if int(batch_size) < 1:
        raise JepakitError(f"--batch-size must be >= 1, got {batch_size}")
    if out.is_dir():
        raise JepakitError(f"--out {out} is a folder; give a file name ending in .parquet or .npy")
    source = _open(checkpoint)
    encoder, meta = source.encoder, source.meta
    bundle = load_data(meta, data)
    dataset, collate = bundle.pretrain, collate_of(bundle)
    n = len(dataset)
    dev = pick_device(device)
    encoder.to(dev)
    if segment is not None:
        names = [seg.name for seg in encoder.segments]
        if segment not in names:
            raise JepakitError(f"--segment {segment!r}: the encoder's segments are {names or 'none (one grid)'}")
        n_tok = encoder.pooled_dim("flat", segment) // encoder.width
    else:
        n_tok = encoder.num_tokens
    shape = (n_tok, encoder.width) if pool == "tokens" else (encoder.pooled_dim(pool, segment),)
    out.parent.mkdir(parents=True, exist_ok=True)
    ids = dataset_ids(dataset)
    seed_everything(int(meta["config"]["train"].get("seed", 0)))  # random crops of a pretraining dataset repeat
    writer = (_ParquetWriter if ext == ".parquet" else _NpyWriter)(out, n, shape)
    bar = progress(total=n, desc=f"embed {meta['domain']}", unit="item") if echo else None
    try:
        for start in range(0, n, int(batch_size)):
            stop = min(n, start + int(batch_size))
            items = [dataset[i] for i in range(start, stop)]
            names = [item_id(dataset, i, it, ids) for i, it in zip(range(start, stop), items)]
            z = encoder.embed(to_device(collate(items), dev), pool, segment).float().cpu().numpy()
            if z.shape[1:] != shape:
                raise DataError(f"the encoder returned embeddings of shape {z.shape[1:]} for items {start}..{stop - 1}, expected {shape}")
            writer.write(names, z)
            if bar is not None:
                bar.update(len(items))
    except BaseException:
        writer.abort()
        raise
    finally:
        if bar is not None:
            bar.close()
    writer.close()
    if echo:
        size = "x".join(str(s) for s in (n, *shape))
        print(f"embedded {n} items ({size}, pool {pool}) -> {out}" + (f" (+ {out.name}.ids.json)" if ext == ".npy" else ""), flush=True)
    return out


__all__ = ["build_encoder", "embed_to_file", "export_run", "item_id", "load_encoder", "model_card"]
