"""Fault-injection figures for jepakit (the closing note of the robustness issue).

    python benchmarks/fault_suite.py [--quick] [--seed N] [--keep]

Only the real CLI is exercised (``jepakit`` subprocesses from the project's virtualenv,
or the one on PATH) on the tiny ``sines`` example domain, in temp folders that are
removed at the end (``--keep`` leaves them and prints where). Every subprocess has a
timeout. Four sections, each printed as Markdown tables:

1. Kills. An uninterrupted reference run per worker setting (per-step losses from
   ``metrics.jsonl``), then ``kill -9`` trials: the run is killed at a random step
   (seeded), during a checkpoint write (as soon as a ``checkpoints/.tmp-step-N`` folder
   appears, after a random 0-8 ms), or right after a new ``step-N`` folder appears but
   before ``latest`` moves; then ``--resume`` runs to the end. A kill "landed during a
   write" when a ``.tmp-*`` entry was left in ``checkpoints/`` after the process died.
   Bit-exact: the loss of every step after the resume point equals the reference's
   exactly, as logged. Two SIGTERM trials (to the process group, as a scheduler sends
   it) expect exit 143, a checkpoint at the step boundary and the printed resume command.
2. Bad inputs: 50+ invalid invocations, classified "one line" (exit 2, stderr exactly one
   ``error:`` line besides ``warning:`` lines), "traceback", "accepted" (exit 0), "other".
3. Broken plugins: temporary dist-info packages on PYTHONPATH (not installed) that fail in
   different ways, next to the good ``sines`` plugin.
4. Code execution on load: an AST scan of core/src and plugins/*/src for pickle-based
   loading, unsafe YAML, ``eval``/``exec``, ``allow_pickle=True``, ``weights_only=False``
   (comments and docstrings are not code, so they never match).

``--quick`` halves the kill and SIGTERM trials (the other sections are unchanged).
Threads are pinned to one per process (OMP_NUM_THREADS=1), so that losses are
reproducible, and the checks run four at a time (the kills are timed on files appearing,
not on the clock, so the load does not change what they test). About 4-5 minutes on 2
cores.
"""

from __future__ import annotations

import argparse
import ast
import concurrent.futures as cf
import datetime as dt
import hashlib
import json
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
_VENV_JK = REPO / ".venv" / "bin" / "jepakit"
JK = str(_VENV_JK) if _VENV_JK.exists() else (shutil.which("jepakit") or "jepakit")

STEPS, CKPT = 60, 5  # the kill trials' run: 60 steps, a checkpoint every 5
RUN_SETS = [
    f"train.steps={STEPS}", f"train.ckpt_every={CKPT}", "train.keep_checkpoints=2", "data.n=256",
    "model.width=32", "model.depth=2", "model.heads=2", "train.batch_size=16", "train.progress=false",
    "train.rankme_every=0",
]
# a valid bad-input run costs 2 steps of an even smaller model
SMALL = [
    "train.steps=2", "data.n=64", "model.width=32", "model.depth=1", "model.heads=2", "train.batch_size=8",
    "train.progress=false", "train.rankme_every=0", "train.rankme_samples=16",
]
RUN_TIMEOUT, CALL_TIMEOUT = 150, 120
JOBS = 4  # checks at a time: most of a CLI call is importing torch, so 4 keep 2 cores busy

_children: set[int] = set()  # process groups we started, killed on the way out
_children_lock = threading.Lock()


def env(**extra: str) -> dict[str, str]:
    e = dict(os.environ)
    e.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", JEPAKIT_PLUGINS="sines", PYTHONUNBUFFERED="1",
             TOKENIZERS_PARALLELISM="false")
    e.update(extra)
    return e


def sets(items: list[str]) -> list[str]:
    return [a for s in items for a in ("--set", s)]


def popen(argv: list[str], stdout, stderr, environ: dict[str, str], cwd: Path | None = None) -> subprocess.Popen:
    p = subprocess.Popen(argv, stdout=stdout, stderr=stderr, env=environ, cwd=cwd, start_new_session=True,
                         stdin=subprocess.DEVNULL)
    with _children_lock:
        _children.add(p.pid)
    return p


def reap(p: subprocess.Popen) -> bool:
    """Kill what is left of ``p``'s process group; True if something was left."""
    left = False
    try:
        os.killpg(p.pid, 0)
        left = True
        os.killpg(p.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    with _children_lock:
        _children.discard(p.pid)
    return left


def call(argv: list[str], environ: dict[str, str] | None = None, timeout: float = CALL_TIMEOUT, cwd: Path | None = None):
    """(exit code or None on timeout, stdout, stderr, seconds)."""
    t0 = time.monotonic()
    p = popen(argv, subprocess.PIPE, subprocess.PIPE, environ or env(), cwd)
    try:
        out, err = p.communicate(timeout=timeout)
        rc = p.returncode
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        rc = None
    reap(p)
    return rc, out.decode(errors="replace"), err.decode(errors="replace"), time.monotonic() - t0


def read_metrics(out: Path) -> tuple[dict[int, float], list[int]]:
    """{step: loss} (the last line of each step) and the steps of the ``start`` events."""
    losses: dict[int, float] = {}
    starts: list[int] = []
    try:
        text = (out / "metrics.jsonl").read_text(errors="replace")
    except OSError:
        return losses, starts
    for line in text.splitlines():
        try:
            x = json.loads(line)
        except ValueError:
            continue  # a line cut by the kill
        if not isinstance(x, dict):
            continue
        if "event" in x:
            if x["event"] == "start":
                starts.append(int(x.get("step", 0)))
            continue
        if "step" in x and "loss" in x:
            losses[int(x["step"])] = x["loss"]
    return losses, starts


_last_seen: dict[Path, tuple[int, int]] = {}


def last_step(out: Path) -> int:
    """The last step in ``out``'s metrics.jsonl (parsed again only when the file grew)."""
    try:
        size = (out / "metrics.jsonl").stat().st_size
    except OSError:
        return 0
    seen = _last_seen.get(out)
    if seen is not None and seen[0] == size:
        return seen[1]
    losses, _ = read_metrics(out)
    _last_seen[out] = (size, max(losses, default=0))
    return _last_seen[out][1]


def ckpt_state(out: Path) -> tuple[list[str], str]:
    ck = out / "checkpoints"
    try:
        names = sorted(os.listdir(ck))
    except OSError:
        names = []
    try:
        latest = (ck / "latest").read_text().strip()
    except OSError:
        latest = ""
    return names, latest


def sha(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


def last_line(text: str) -> str:
    lines = [x for x in text.strip().splitlines() if x.strip()]
    return lines[-1][:160] if lines else ""


def md_table(header: list[str], rows: list[list[object]]) -> str:
    def cell(v: object) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(out)


# ---------------------------------------------------------------------------- 1: kills


def reference(root: Path, workers: int = 0) -> dict[str, object]:
    out = root / f"reference-w{workers}" / "run"
    rc, _, err, secs = call([JK, "pretrain", "sines", "--out", str(out), *sets(RUN_SETS + [f"train.workers={workers}"])],
                            timeout=RUN_TIMEOUT)
    losses, _ = read_metrics(out)
    if rc != 0 or sorted(losses) != list(range(1, STEPS + 1)):
        raise SystemExit(f"the reference run (workers={workers}) failed: exit {rc}: {err[-2000:]}")
    return {"losses": losses, "weights": sha(out / "checkpoints" / f"step-{STEPS:07d}" / "model.safetensors"), "seconds": secs}


def plan_trials(quick: bool, seed: int) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """The kill -9 and SIGTERM trials, drawn up front from the seed (the trials run in
    parallel, so they draw nothing themselves)."""
    rng = random.Random(seed)
    plan = ([(0, "random")] * 3 + [(0, "write")] * 4 + [(0, "after-rename")]
            + [(2, "random")] * 2 + [(2, "write")] * 2)
    if quick:
        plan = [(0, "random"), (0, "write"), (0, "write"), (0, "after-rename"), (2, "random"), (2, "write")]
    kills = []
    for i, (workers, mode) in enumerate(plan):
        if mode == "random":
            target, delay = rng.randint(CKPT + 1, STEPS - 5), rng.uniform(0.0, 0.05)
            aim = f"after step {target} + {delay * 1e3:.0f} ms"
        else:  # a checkpoint that is not the first (a kill in the first write leaves nothing to resume)
            target, delay = CKPT * rng.randint(2, STEPS // CKPT - 1), rng.uniform(0.0, 0.008)
            aim = f"in write of step {target} + {delay * 1e3:.1f} ms" if mode == "write" else f"step-{target} renamed, latest not yet"
        kills.append({"idx": i + 1, "workers": workers, "mode": mode, "target": target, "delay": delay, "aim": aim})
    boundaries = [s for s in range(CKPT + 1, STEPS - 5) if s % CKPT and (s + 1) % CKPT]
    terms = [{"idx": i + 1, "workers": w, "target": rng.choice(boundaries)} for i, w in enumerate([0, 2][: 1 if quick else 2])]
    return kills, terms


def kill_trial(root: Path, trial: dict[str, object]) -> dict[str, object]:
    idx, workers, mode = trial["idx"], trial["workers"], trial["mode"]
    target, delay = int(trial["target"]), float(trial["delay"])
    d = root / f"kill-{idx:02d}"
    d.mkdir()
    out, ck = d / "run", d / "run" / "checkpoints"
    rec: dict[str, object] = dict(trial, note="")
    with open(d / "stdout", "wb") as so, open(d / "stderr", "wb") as se:
        p = popen([JK, "pretrain", "sines", "--out", str(out), *sets(RUN_SETS + [f"train.workers={workers}"])], so, se, env())
    deadline = time.monotonic() + RUN_TIMEOUT
    killed = False
    tmp_name, step_name = f".tmp-step-{target:07d}", f"step-{target:07d}"
    while time.monotonic() < deadline and p.poll() is None:
        if mode == "random":
            if last_step(out) >= target:
                time.sleep(delay)
                killed = True
        else:
            names, latest = ckpt_state(out)
            later = any(n.startswith("step-") and n[5:].isdigit() and int(n[5:]) >= target for n in names)
            if mode == "write":
                if tmp_name in names:
                    time.sleep(delay)
                    killed = True
                elif later:
                    rec["note"] = "missed the write: killed after the rename"
                    killed = True
            else:  # after-rename
                if step_name in names and latest != step_name:
                    killed = True
                elif later and latest[5:].isdigit() and int(latest[5:]) >= target:
                    rec["note"] = "missed the window: killed after latest moved"
                    killed = True
        if killed:
            try:
                p.send_signal(signal.SIGKILL)  # the main process only, as the OOM killer does
            except ProcessLookupError:
                pass
            break
        time.sleep(0.0005)
    try:
        p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pass
    time.sleep(0.2 if workers else 0.0)
    rec["orphans"] = reap(p)
    if not killed:
        rec.update(status="not killed", note=f"run ended first (exit {p.returncode})")
        return rec
    names, latest = ckpt_state(out)
    rec["left"] = [n for n in names if n.startswith(".tmp")]
    rec["during_write"] = any(n.startswith(".tmp-") for n in names)
    rec["latest_at_kill"] = latest
    rec["killed_after"] = last_step(out)
    rc, _, err, secs = call([JK, "pretrain", "sines", "--out", str(out), "--resume"], timeout=RUN_TIMEOUT)
    losses, starts = read_metrics(out)
    names, latest = ckpt_state(out)
    resumed_from = starts[-1] if len(starts) >= 2 else None
    rec["resume_rc"] = rc
    rec["resume_err"] = "" if rc == 0 else last_line(err)
    rec["resumed_from"] = resumed_from
    rec["finished"] = rc == 0 and max(losses, default=0) == STEPS and latest == f"step-{STEPS:07d}"
    rec["lost"] = None if resumed_from is None else rec["killed_after"] - resumed_from
    rec["losses"] = losses
    rec["weights"] = sha(ck / f"step-{STEPS:07d}" / "model.safetensors")
    rec["tmp_after_resume"] = [n for n in names if n.startswith(".tmp")]
    rec["survived"] = bool(rec["finished"])
    return rec


def judge_kill(rec: dict[str, object], ref: dict[str, object]) -> None:
    """Bit-exact: every step after the resume point has the reference's loss, exactly."""
    if "survived" not in rec:
        return
    losses = rec["losses"]
    after = range((rec["resumed_from"] or 0) + 1, STEPS + 1)
    rec["bit_exact"] = bool(rec["finished"]) and all(losses.get(s) == ref["losses"][s] for s in after)
    rec["weights_exact"] = rec["weights"] == ref["weights"]


def sigterm_trial(root: Path, trial: dict[str, object]) -> dict[str, object]:
    idx, workers, target = trial["idx"], trial["workers"], int(trial["target"])
    d = root / f"sigterm-{idx:02d}"
    d.mkdir()
    out = d / "run"
    rec: dict[str, object] = dict(trial)
    with open(d / "stdout", "wb") as so, open(d / "stderr", "wb") as se:
        p = popen([JK, "pretrain", "sines", "--out", str(out), *sets(RUN_SETS + [f"train.workers={workers}"])], so, se, env())
    deadline = time.monotonic() + RUN_TIMEOUT
    sent_after = None
    while time.monotonic() < deadline and p.poll() is None:
        s = last_step(out)
        if s >= target:
            sent_after = s
            os.killpg(p.pid, signal.SIGTERM)  # the whole job, as a scheduler does
            break
        time.sleep(0.001)
    try:
        rc = p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        rc = None
    reap(p)
    err = (d / "stderr").read_text(errors="replace")
    names, latest = ckpt_state(out)
    ck_step = int(latest[5:]) if latest.startswith("step-") and latest[5:].isdigit() else None
    hint = f"resume with: jepakit pretrain sines --out {out} --resume"
    last = [x for x in err.strip().splitlines() if x.strip()][-1:] or [""]
    rec.update(
        sent_after=sent_after, rc=rc, ckpt_step=ck_step,
        at_boundary=ck_step is not None and sent_after is not None and ck_step in (sent_after, sent_after + 1),
        hint=hint in last[0] and f"stopped by SIGTERM after step {ck_step}" in last[0],
        lock_gone=not (out / ".jepakit.lock").exists(), last_line=last[0][:200],
    )
    rc2, _, err2, _ = call([JK, "pretrain", "sines", "--out", str(out), "--resume"], timeout=RUN_TIMEOUT)
    losses, starts = read_metrics(out)
    rec["resume_rc"] = rc2
    rec["resume_err"] = "" if rc2 == 0 else last_line(err2)
    rec["losses"] = losses
    return rec


def judge_term(rec: dict[str, object], ref: dict[str, object]) -> None:
    losses = rec["losses"]
    rec["bit_exact"] = rec["resume_rc"] == 0 and sorted(losses) == list(range(1, STEPS + 1)) and all(
        losses[s] == ref["losses"][s] for s in losses)
    rec["ok"] = rec["rc"] == 143 and rec["at_boundary"] and rec["hint"] and rec["lock_gone"] and rec["bit_exact"]


def section_kills(ref: dict[str, object], trials: list[dict[str, object]], terms: list[dict[str, object]], seed: int) -> str:
    # one reference: the batches do not depend on train.workers (tests/faults/test_runs.py), so
    # the workers=2 trials are held to the workers=0 run too
    for t in trials:
        judge_kill(t, ref)
    for t in terms:
        judge_term(t, ref)

    done = [t for t in trials if "survived" in t]
    def frac(sel):  # noqa: E306
        return f"{sum(bool(t['survived']) for t in sel)}/{len(sel)}"
    writes = [t for t in done if t["during_write"]]
    lost = [t["lost"] for t in done if t["lost"] is not None]
    rows = [
        ["kill -9 survived / tried", frac(done)],
        ["... landed during a checkpoint write (`.tmp-*` left) survived / tried", frac(writes)],
        ["... aimed at a write / after the rename, and how many landed in a write",
         f"{sum(t['mode'] == 'write' for t in done)} / {sum(t['mode'] == 'after-rename' for t in done)}; "
         f"{len(writes)} landed in a write"],
        ["... with train.workers=2 survived / tried", frac([t for t in done if t["workers"] > 0])],
        ["max steps lost (last logged step - step resumed from)", max(lost) if lost else "n/a"],
        ["mean steps lost", f"{sum(lost) / len(lost):.1f}" if lost else "n/a"],
    ]
    for w in (0, 2):
        sel = [t for t in done if t["workers"] == w]
        rows.append([f"bit-exact losses after resume, workers={w}",
                     f"{sum(bool(t['bit_exact']) for t in sel)}/{len(sel)}"
                     f" (final weights identical: {sum(bool(t['weights_exact']) for t in sel)}/{len(sel)})"])
    rows.append(["SIGTERM: exit 143 + checkpoint at the step boundary + resume command + exact resume",
                 f"{sum(bool(t['ok']) for t in terms)}/{len(terms)}"])
    rows.append(["trials whose DataLoader workers were still alive 0.2 s after the kill -9 (then killed by the suite)",
                 f"{sum(bool(t.get('orphans')) for t in trials)}/{len(trials)}"])
    skipped = [t for t in trials if "survived" not in t]

    detail = [[t["idx"], t["workers"], t["mode"], t["aim"], t.get("killed_after", "-"), t.get("latest_at_kill", "-"),
               ", ".join(t.get("left", [])) or "-", t.get("resumed_from", "-"), t.get("lost", "-"), t.get("resume_rc", "-"),
               "yes" if t.get("finished") else "NO", "yes" if t.get("bit_exact") else "NO",
               "yes" if t.get("weights_exact") else "NO",
               "; ".join(x for x in (t["note"], t.get("resume_err", ""),
                                     f"left after resume: {t['tmp_after_resume']}" if t.get("tmp_after_resume") else "") if x) or ""]
              for t in trials]
    term_rows = [[t["idx"], t["workers"], t["sent_after"], t["rc"], t["ckpt_step"],
                  "yes" if t["at_boundary"] else "NO", "yes" if t["hint"] else "NO", "yes" if t["lock_gone"] else "NO",
                  t["resume_rc"], "yes" if t["bit_exact"] else "NO", t["last_line"] if not t["ok"] else ""] for t in terms]
    parts = [
        "## 1. Kills and resume",
        "",
        f"Run: `sines`, {STEPS} steps, a checkpoint every {CKPT} (keep 2), width 32, depth 2, batch 16, "
        f"OMP_NUM_THREADS=1. Reference: one uninterrupted run with workers=0 ({ref['seconds']:.1f} s), for the "
        f"workers=2 trials too. Seed {seed}. Kill -9 goes to the main process only (as the OOM killer does); "
        "SIGTERM to the process group (as a scheduler does).",
        "",
        md_table(["figure", "value"], rows),
        "",
        md_table(["#", "workers", "timing", "aim", "killed after step", "latest at kill", "left in checkpoints/",
                  "resumed from", "steps lost", "resume exit", "finished", "bit-exact", "same weights", "notes"], detail),
        "",
        md_table(["SIGTERM #", "workers", "sent after step", "exit", "checkpoint step", "at the step boundary",
                  "resume command printed", "lock removed", "resume exit", "bit-exact", "last stderr line (if not ok)"],
                 term_rows),
    ]
    if skipped:
        parts += ["", f"Not counted (the run ended before the kill): {[t['idx'] for t in skipped]}"]
    return "\n".join(parts)


# ---------------------------------------------------------------------------- 2: bad inputs


def bad_cases(root: Path, done: Path) -> list[tuple[str, list[str], dict[str, str] | None]]:
    b = root / "bad"
    b.mkdir()
    files = {
        "bad.yaml": b"train:\n  steps: [1, 2\n",
        "bad.json": b'{"train": {"steps": 3,}',
        "list.yaml": b"- 1\n- 2\n",
        "binary.yaml": b"\xff\xfe\x00garbage\x00",
        "typekey.yaml": b"train:\n  steps: abc\n",
        "section.yaml": b"trian:\n  steps: 3\n",
        "depth.yaml": b"model:\n  depth: 3\n",
    }
    for name, data in files.items():
        (b / name).write_bytes(data)
    (b / "a-file").write_text("x")
    (b / "garbage.bin").write_bytes(os.urandom(256))
    counter = iter(range(1000))

    def fresh() -> str:
        return str(b / f"out-{next(counter):03d}")

    def copy_done() -> str:
        dst = Path(fresh())
        shutil.copytree(done, dst, symlinks=True)
        (dst / ".jepakit.lock").unlink(missing_ok=True)
        return str(dst)

    def pre(*extra: str, base: list[str] = SMALL) -> list[str]:
        return ["pretrain", "sines", "--out", fresh(), *sets(base), *extra]

    cases: list[tuple[str, list[str], dict[str, str] | None]] = []
    for item in [
        "train.steps=abc", "train.steps=0", "train.steps=-3", "train.steps=2.5", "train.lr=nan", "train.lr=-0.001",
        "train.batch_size=0", "model.width=33", "model.heads=0", "model.pos=rope", "train.device=cuda",
        "train.ckpt_every=-1", "train.warmup=-1", "train.min_lr=0.5", "recipe=nope", "train.stepz=3", "steps=3",
        "views.name=nosuch", "tokenizer.patch=0", "data.n=-1", "data.nn=5",
    ]:
        cases.append((f"--set {item}", pre("--set", item), None))
    cases.append(("--set model.width=1 model.heads=1", pre("--set", "model.width=1", "--set", "model.heads=1"), None))
    for item in ["masker.target_scale=[0.5, 0.6]", "masker.context_scale=[0.9, 1.5]", "masker.num_targets=6"]:
        cases.append((f"--set recipe=jepa {item}", pre("--set", "recipe=jepa", "--set", item), None))
    cases.append(("--set masker.num_targets=6 (recipe lejepa: masker unused)", pre("--set", "masker.num_targets=6"), None))
    no_steps = [x for x in SMALL if not x.startswith("train.steps=")]  # the file's train.steps must count
    for name in files:
        if name != "depth.yaml":
            cases.append((f"--config {name}", pre("--config", str(b / name), base=no_steps), None))
    cases.append(("--config missing.yaml", pre("--config", str(b / "missing.yaml")), None))
    cases.append(("--config a folder", pre("--config", str(b)), None))
    cases.append(("--out a file", ["pretrain", "sines", "--out", str(b / "a-file"), *sets(SMALL)], None))
    cases.append(("--out a-file/sub", ["pretrain", "sines", "--out", str(b / "a-file" / "sub"), *sets(SMALL)], None))
    cases.append(("--data missing path", pre("--data", str(b / "no-such-data")), None))
    cases.append(("--data a garbage file", pre("--data", str(b / "garbage.bin")), None))
    cases.append(("unknown domain", ["pretrain", "nosuchdomain", "--out", fresh(), *sets(SMALL)], None))
    cases.append(("misspelled domain 'sine'", ["pretrain", "sine", "--out", fresh(), *sets(SMALL)], None))
    for item in ["model.width=64", "train.stpes=5", "train.lr=0.1", "train.steps=1"]:
        cases.append((f"--resume --set {item}", ["pretrain", "sines", "--out", copy_done(), "--resume", "--set", item], None))
    cases.append(("--resume --config changing model.depth",
                  ["pretrain", "sines", "--out", copy_done(), "--resume", "--config", str(b / "depth.yaml")], None))
    cases.append(("--resume of an empty new folder", ["pretrain", "sines", "--out", fresh(), "--resume"], None))
    cases.append(("--resume --overwrite", ["pretrain", "sines", "--out", copy_done(), "--resume", "--overwrite"], None))
    cases.append(("--out holds a run, no --resume", ["pretrain", "sines", "--out", copy_done(), *sets(SMALL)], None))
    cases.append(("evaluate a missing checkpoint", ["evaluate", str(b / "no-such-run"), "--out", fresh()], None))
    cases.append(("evaluate a file", ["evaluate", str(b / "a-file"), "--out", fresh()], None))
    cases.append(("evaluate --set eval.seeds=abc", ["evaluate", str(done), "--set", "eval.seeds=abc", "--out", fresh()], None))
    cases.append(("bench --set train.steps=-1", ["bench", "sines", "--quick", "--set", "train.steps=-1", "--out", fresh()], None))
    cases.append(("bench --set train.stepz=2", ["bench", "sines", "--quick", "--set", "train.stepz=2", "--out", fresh()], None))
    cases.append(("bench unknown domain", ["bench", "nosuchdomain", "--quick", "--out", fresh()], None))
    cases.append(("bench with no domain installed", ["bench", "--quick", "--out", fresh()], {"JEPAKIT_PLUGINS": "none"}))
    cases.append(("prepare a domain without prepare", ["prepare", "sines", str(b), fresh()], None))
    cases.append(("prepare ecg --set rte=250", ["prepare", "ecg", str(b), fresh(), "--set", "rte=250"],
                  {"JEPAKIT_PLUGINS": "ecg"}))
    cases.append(("prepare ecg --set rate (no =)", ["prepare", "ecg", str(b), fresh(), "--set", "rate"],
                  {"JEPAKIT_PLUGINS": "ecg"}))
    cases.append(("prepare ecg of a missing source", ["prepare", "ecg", str(b / "no-such-src"), fresh()],
                  {"JEPAKIT_PLUGINS": "ecg"}))
    cases.append(("runs of a missing folder", ["runs", str(b / "no-such-runs")], None))
    return cases


def classify(rc: int | None, err: str) -> str:
    lines = [x for x in err.splitlines() if x.strip()]
    rest = [x for x in lines if not x.startswith("warning:")]
    if rc is None:
        return "other"
    if "Traceback" in err:
        return "traceback"
    if rc == 0:
        return "accepted"
    if rc == 2 and len(rest) == 1 and rest[0].startswith("error:"):
        return "one line"
    return "other"


def run_bad(case) -> dict[str, object]:
    label, argv, extra = case
    rc, out, err, secs = call([JK, *argv], env(**(extra or {})))
    kind = classify(rc, err)
    return {"label": label, "rc": rc, "kind": kind, "secs": secs,
            "said": (err.strip() if kind != "accepted" else out.strip()).replace("\n", " \u23ce ")[:300]}


def section_bad(results: list[dict[str, object]]) -> str:
    kinds = ["one line", "traceback", "accepted", "other"]
    counts = [[k, sum(r["kind"] == k for r in results)] for k in kinds]
    counts.append(["total", len(results)])
    odd = [[r["label"], r["kind"], "timeout" if r["rc"] is None else r["rc"], r["said"]]
           for r in results if r["kind"] != "one line"]
    parts = ["## 2. Bad inputs", "", md_table(["outcome", "count"], counts), ""]
    if odd:
        parts += ["Not a one-line error:", "", md_table(["invocation", "outcome", "exit", "stderr (accepted: stdout)"], odd)]
    else:
        parts += ["Every bad invocation was a one-line error."]
    parts += ["", "<details><summary>all cases</summary>", "",
              md_table(["invocation", "outcome", "exit", "s", "message"],
                       [[r["label"], r["kind"], "timeout" if r["rc"] is None else r["rc"], f"{r['secs']:.1f}", r["said"][:160]]
                        for r in results]), "", "</details>"]
    return "\n".join(parts)


# ---------------------------------------------------------------------------- 3: broken plugins

BROKEN = {
    "import error": "import jepakit_no_such_module_xyz\n",
    "hook raises": textwrap.dedent("""
        from jepakit import hookimpl

        @hookimpl
        def jepakit_register_domains(register):
            raise RuntimeError("boom in the hook")
        """),
    "duplicate domain 'sines'": textwrap.dedent("""
        from jepakit import Domain, hookimpl

        def load(path=None):
            raise RuntimeError("the impostor's loader ran")

        @hookimpl
        def jepakit_register_domains(register):
            register(Domain("sines", load, summary="an impostor"))
        """),
    "misspelled hook": textwrap.dedent("""
        from jepakit import hookimpl

        @hookimpl
        def jepakit_register_domain(register):
            pass
        """),
    "non-callable factory": textwrap.dedent("""
        from jepakit import hookimpl

        @hookimpl
        def jepakit_register_tokenizers(register):
            register("brokentok", 42, "not a factory")
        """),
    "hook with a wrong argument name": textwrap.dedent("""
        from jepakit import hookimpl

        @hookimpl
        def jepakit_register_maskers(reg):
            pass
        """),
    "syntax error": "def (:\n",
    "sys.exit() at import": "import sys\nsys.exit(3)\n",
}


def make_plugin(root: Path, i: int, source: str) -> tuple[str, Path]:
    name = f"broken{i}"
    d = root / "plugins" / name
    (d / f"{name}-0.0.dist-info").mkdir(parents=True)
    (d / f"{name}.py").write_text(source)
    (d / f"{name}-0.0.dist-info" / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.0\n")
    (d / f"{name}-0.0.dist-info" / "entry_points.txt").write_text(f"[jepakit]\n{name} = {name}\n")
    return name, d


def run_plugin(root: Path, i: int, kind: str, source: str) -> dict[str, object]:
    name, d = make_plugin(root, i, source)
    pp = os.pathsep.join(x for x in (str(d), os.environ.get("PYTHONPATH", "")) if x)
    e_sel = env(PYTHONPATH=pp, JEPAKIT_PLUGINS=f"sines,{name}")
    e_all = {k: v for k, v in env(PYTHONPATH=pp).items() if k != "JEPAKIT_PLUGINS"}
    rc_d, out_d, err_d, _ = call([JK, "domains"], e_sel, timeout=60)
    rc_a, out_a, err_a, _ = call([JK, "domains"], e_all, timeout=60)
    out = root / "plugins" / f"run-{name}"
    rc_p, out_p, err_p, _ = call([JK, "pretrain", "sines", "--out", str(out), *sets(SMALL)], e_sel, timeout=CALL_TIMEOUT)
    sines_listed = "domains: sines" in out_d and "domains: sines" in out_a
    sines_ok = rc_d == 0 and rc_a == 0 and sines_listed and rc_p == 0 and "pretrained sines" in out_p
    named = name in out_d + err_d and name in out_a + err_a
    tb = any("Traceback" in x for x in (err_d, err_a, err_p))
    said = (out_d + err_d).splitlines()
    line = next((x.strip() for x in said if "FAILED" in x and (name in x or "sines" in x.split(":")[0])), "")
    if not line and rc_d != 0:
        line = f"`domains`: exit {rc_d}, {'no output' if not (out_d + err_d).strip() else last_line(out_d + err_d)}"
    return {"kind": kind, "name": name, "rc": (rc_d, rc_a, rc_p), "sines_ok": sines_ok, "named": named, "traceback": tb,
            "line": line[:200], "pretrain_err": "" if rc_p == 0 else last_line(err_p),
            "took_down": not sines_ok or tb}


def section_plugins(results: list[dict[str, object]]) -> str:
    down = [r for r in results if r["took_down"]]
    rows = [[r["kind"], r["name"], "/".join("timeout" if c is None else str(c) for c in r["rc"]),
             "yes" if r["sines_ok"] else "NO", "yes" if r["named"] else "NO", "yes" if r["traceback"] else "no",
             "; ".join(x for x in (r["line"], r["pretrain_err"] and f"pretrain: {r['pretrain_err']}") if x)] for r in results]
    return "\n".join([
        "## 3. Broken plugins",
        "",
        md_table(["figure", "value"], [["broken plugins tried", len(results)],
                                       ["that took others down (sines unusable, or a traceback)", len(down)],
                                       ["named in `jepakit domains`", sum(bool(r["named"]) for r in results)]]),
        "",
        "Exits: `domains` with JEPAKIT_PLUGINS=sines,brokenN / `domains` with every installed plugin / "
        "a 2-step `pretrain sines` with JEPAKIT_PLUGINS=sines,brokenN.",
        "",
        md_table(["kind", "plugin", "exits", "sines still works", "broken one named", "traceback", "what it said"], rows),
    ])


# ---------------------------------------------------------------------------- 4: code execution on load

PICKLY_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "shelve", "marshal", "jsonpickle"}


def _dotted(node: ast.AST) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def _kw(call_node: ast.Call, name: str):
    for k in call_node.keywords:
        if k.arg == name:
            return k.value
    return None


def scan_file(path: Path) -> list[tuple[str, int, str]]:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    except (SyntaxError, UnicodeDecodeError) as exc:
        return [(str(path), getattr(exc, "lineno", 0) or 0, f"cannot parse: {exc}")]
    hits = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] in PICKLY_MODULES:
                    hits.append((node.lineno, f"import {a.name}"))
        elif isinstance(node, ast.ImportFrom):
            mod = (node.module or "").split(".")[0]
            if mod in PICKLY_MODULES:
                hits.append((node.lineno, f"from {node.module} import ..."))
            if node.module == "torch" and any(a.name == "load" for a in node.names):
                hits.append((node.lineno, "from torch import load"))
            if node.module == "yaml" and any(a.name in ("load", "unsafe_load", "full_load", "load_all") for a in node.names):
                hits.append((node.lineno, "from yaml import load..."))
        elif isinstance(node, ast.Call):
            name = _dotted(node.func)
            last = name.rsplit(".", 1)[-1]
            if name in ("eval", "exec"):  # builtins only: model.eval() / ast.literal_eval are attributes
                hits.append((node.lineno, f"{name}(...)"))
            elif name in ("torch.load", "torch.jit.load") or (name.endswith(".load") and name.split(".")[0] in ("torch", "th")):
                wo = _kw(node, "weights_only")
                if not (isinstance(wo, ast.Constant) and wo.value is True):
                    hits.append((node.lineno, f"{name}(...) without weights_only=True"))
            elif name.split(".")[0] in PICKLY_MODULES and last in ("load", "loads", "Unpickler", "open"):
                hits.append((node.lineno, f"{name}(...)"))
            elif last == "read_pickle":
                hits.append((node.lineno, f"{name}(...)"))
            elif name in ("yaml.unsafe_load", "yaml.full_load", "yaml.unsafe_load_all", "yaml.full_load_all"):
                hits.append((node.lineno, f"{name}(...)"))
            elif name in ("yaml.load", "yaml.load_all"):
                loader = _kw(node, "Loader") or (node.args[1] if len(node.args) > 1 else None)
                if loader is None or "Safe" not in _dotted(loader):
                    hits.append((node.lineno, f"{name}(...) without a SafeLoader"))
            for k in node.keywords:
                if k.arg == "allow_pickle" and not (isinstance(k.value, ast.Constant) and k.value.value is False):
                    hits.append((node.lineno, f"{name}(..., allow_pickle={ast.unparse(k.value)})"))
                if k.arg == "weights_only" and not (isinstance(k.value, ast.Constant) and k.value.value is True):
                    if not any(h[0] == node.lineno and "weights_only" in h[1] for h in hits):
                        hits.append((node.lineno, f"{name}(..., weights_only={ast.unparse(k.value)})"))
    return [(str(path.relative_to(REPO)), line, what) for line, what in sorted(set(hits))]


def section_scan() -> str:
    files = sorted((REPO / "core" / "src").rglob("*.py")) + sorted(p for p in (REPO / "plugins").glob("*/src/**/*.py"))
    hits = [h for f in files for h in scan_file(f)]
    parts = ["## 4. Code execution on load", "",
             md_table(["figure", "value"], [["Python files scanned (core/src, plugins/*/src)", len(files)],
                                            ["pickle / torch.load / unsafe YAML / eval / exec / allow_pickle / weights_only=False",
                                             len(hits)]])]
    if hits:
        parts += ["", md_table(["file", "line", "what"], [list(h) for h in hits])]
    return "\n".join(parts)


# ---------------------------------------------------------------------------- main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="half the kill and SIGTERM trials")
    ap.add_argument("--seed", type=int, default=15)
    ap.add_argument("--keep", action="store_true", help="keep the temp folders")
    args = ap.parse_args()
    t0 = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="jepakit-faults-"))
    rc_v, ver, _, _ = call([JK, "--version"], timeout=60)
    if rc_v != 0:
        print(f"cannot run {JK}", file=sys.stderr)
        return 1
    try:
        # a finished 2-step run for the --resume / evaluate cases
        done = root / "done"
        rc, _, err, _ = call([JK, "pretrain", "sines", "--out", str(done), *sets(SMALL)], timeout=RUN_TIMEOUT)
        if rc != 0:
            raise SystemExit(f"the small run failed: {err[-2000:]}")
        cases = bad_cases(root, done)
        # every check runs in a pool of JOBS threads (one subprocess each) on the 2 cores: the kills
        # are timed on files appearing, not on the clock, so the load does not change what they test
        kill_plan, term_plan = plan_trials(args.quick, args.seed)
        with cf.ThreadPoolExecutor(max_workers=JOBS) as pool:
            ref_f = pool.submit(reference, root)
            kill_f = [pool.submit(kill_trial, root, t) for t in kill_plan]
            term_f = [pool.submit(sigterm_trial, root, t) for t in term_plan]
            bad_f = [pool.submit(run_bad, c) for c in cases]
            plug_f = [pool.submit(run_plugin, root, i + 1, k, s) for i, (k, s) in enumerate(BROKEN.items())]
            kills = section_kills(ref_f.result(), [f.result() for f in kill_f], [f.result() for f in term_f], args.seed)
            bad = [f.result() for f in bad_f]
            plugs = [f.result() for f in plug_f]
        scan = section_scan()
        wall = time.monotonic() - t0
        print(f"# jepakit fault suite, {dt.datetime.now().strftime('%Y-%m-%d %H:%M')}")
        print()
        print(f"{ver.strip()}, Python {platform.python_version()}, {os.cpu_count()} CPU cores, "
              f"{'--quick, ' if args.quick else ''}seed {args.seed}; wall time {wall:.0f} s")
        print()
        for part in (kills, section_bad(bad), section_plugins(plugs), scan):
            print(part)
            print()
    finally:
        with _children_lock:
            left = list(_children)
        for pid in left:
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if args.keep:
            print(f"(temp folders kept in {root})", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
