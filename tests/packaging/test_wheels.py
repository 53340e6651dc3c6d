"""Separately installable (issue 19, section 5): the core and each plugin are built as
wheels and installed from that local wheel folder -- no editable install, no other plugin --
into a clean virtual environment, which then lists its domains and runs a tiny quick bench.

The clean environment gets its third-party packages from this one (the test's own
interpreter, ``.venv``) read-only, so that torch is not downloaded again: a ``.pth`` file
points at a folder of symlinks to exactly the distributions that the installed wheels'
declared requirements need, transitively (markers and extras evaluated). Nothing else is
there, so a plugin that imports a package it neither declares nor gets through a declared
one fails here, as it would for a user; and a declared requirement that the environment
cannot satisfy is reported by name.

The wheels are built with ``--no-build-isolation`` from a copy of the sources (so no
``build/`` or egg-info lands in the checkout); where this interpreter lacks what the
``[build-system]`` needs, the build falls back to pip's isolated build, which needs the
package index for setuptools.

Every plugin under ``plugins/`` is covered (a new one automatically); all but ``FAST`` are
marked ``slow`` (about half a minute each on 2 busy CPU cores, mostly torch's import).
"""

from __future__ import annotations

import email.parser
import importlib.metadata as md
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PLUGINS = sorted(p.name for p in (ROOT / "plugins").iterdir() if (p / "pyproject.toml").is_file())
FAST = "sar"  # the plugin that runs without the slow marker (the quickest of them)

# the smallest bench that still pretrains, probes and writes a report; on top of --quick
TINY = [
    "train.steps=2", "train.batch_size=4", "train.progress=false",
    "model.width=16", "model.depth=1", "model.heads=1", "model.pred_width=16", "model.pred_depth=1", "model.pred_heads=1",
    "eval.seeds=1", "eval.fractions=[1.0]", "eval.max_iter=50",
    "eval.supervised=false", "eval.random_init=false", "eval.finetune=false",
]
# smaller embedded data where a known domain's quick preset is still large; a new plugin
# runs its own --quick preset with TINY only
SMALLER = {
    "ecg": ["synthetic.records=[16,12,8]"],
    "eeg": ["synthetic.subjects=8", "eval.variants=[vjepa]"],
    "lidar": ["synthetic.scenes=6", "synthetic.train_scenes=3", "synthetic.test_scenes=2", "synthetic.beams=8", "synthetic.azimuths=90"],
    "sar": ["synthetic.n_pretrain=32", "synthetic.n_train=20", "synthetic.n_test=20"],
    "tabular": ["data.table=wine"],
}
SOURCES = ["core", *(f"plugins/{d}" for d in PLUGINS)]
SITE = Path(sysconfig.get_paths()["purelib"])  # this environment's site-packages (.venv's)
SITES = sorted({str(SITE), sysconfig.get_paths()["platlib"]})


def run(cmd: list[str], timeout: float = 600, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, **kw)


def explain(proc: subprocess.CompletedProcess) -> str:
    return f"{' '.join(map(str, proc.args))} -> rc {proc.returncode}\n{(proc.stdout + proc.stderr)[-4000:]}"


# ------------------------------------------------------------------ the wheels


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory) -> dict[str, Path]:
    """canonical project name -> its wheel, built once for the module."""
    src, out = tmp_path_factory.mktemp("src"), tmp_path_factory.mktemp("wheelhouse")
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "dist", ".pytest_cache")
    for rel in SOURCES:
        shutil.copytree(ROOT / rel, src / rel, ignore=skip)
    base = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--disable-pip-version-check", "-w", out,
            *(src / rel for rel in SOURCES)]
    proc = run([*base[:5], "--no-build-isolation", "--no-index", *base[5:]])
    if proc.returncode:  # this interpreter cannot build them itself: pip's isolated build
        proc = run(base)
    assert proc.returncode == 0, explain(proc)
    wheels = {canonicalize_name(w.name.split("-")[0]): w for w in out.glob("*.whl")}
    assert len(wheels) == len(SOURCES), sorted(wheels)
    return wheels


def metadata_of(wheel: Path) -> tuple[email.message.Message, str, list[str]]:
    """A wheel's METADATA, its entry_points.txt and its file names."""
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        meta = email.parser.Parser().parsestr(z.read(f"{info}/METADATA").decode())
        eps = z.read(f"{info}/entry_points.txt").decode() if f"{info}/entry_points.txt" in names else ""
    return meta, eps, names


def package_of(rel: str) -> str:
    return "jepakit" if rel == "core" else f"jepakit_{Path(rel).name}"


@pytest.mark.parametrize("rel", SOURCES)
def test_wheel_ships_the_whole_package(wheelhouse, rel):
    """Every file of the source package (modules, py.typed, any data) is in the wheel, and
    nothing outside it; a plugin's wheel declares its entry point in the ``jepakit`` group."""
    pkg = package_of(rel)
    wheel = wheelhouse[canonicalize_name(pkg)]
    meta, eps, names = metadata_of(wheel)
    tree = ROOT / rel / "src" / pkg
    want = {f"{pkg}/{p.relative_to(tree).as_posix()}" for p in tree.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".pyo")}
    shipped = {n for n in names if ".dist-info/" not in n}
    assert f"{pkg}/py.typed" in want, f"{tree} has no py.typed (PEP 561 marker)"
    assert not want - shipped, f"{wheel.name} lacks {sorted(want - shipped)}: declare them as package data in {rel}/pyproject.toml"
    assert not shipped - want, f"{wheel.name} ships files from outside {tree}: {sorted(shipped - want)}"
    if rel == "core":
        assert "jepakit = jepakit.cli:main" in eps, eps
    else:
        domain = Path(rel).name
        assert "[jepakit]" in eps and f"{domain} = {pkg}.plugin" in eps, eps
    assert meta["Name"] and meta["Version"]


# ------------------------------------------------------- the clean environment


def dists_here() -> dict[str, md.Distribution]:
    """This environment's installed distributions, jepakit's own left out."""
    found: dict[str, md.Distribution] = {}
    for d in md.distributions(path=SITES):
        name = canonicalize_name(d.metadata["Name"] or "")
        if name and not name.startswith("jepakit"):
            found.setdefault(name, d)
    return found


def wanted(req: Requirement, extras: set[str]) -> bool:
    return req.marker is None or any(req.marker.evaluate({"extra": e}) for e in (extras or {""}))


def closure(roots: list[str], wheels: dict[str, Path]) -> tuple[list[Path], list[md.Distribution], list[str]]:
    """The wheels and this environment's distributions that ``roots`` (wheel project
    names) need, transitively, and the requirements that cannot be met."""
    have, todo = dists_here(), [(r, set()) for r in roots]
    seen: dict[str, set[str]] = {}
    picked_wheels, picked, problems = [], [], []
    while todo:
        name, extras = todo.pop()
        if name in seen and extras <= seen[name]:
            continue
        first = name not in seen
        seen[name] = seen.get(name, set()) | extras
        if name in wheels:
            if first:
                picked_wheels.append(wheels[name])
            reqs = metadata_of(wheels[name])[0].get_all("Requires-Dist") or []
        else:
            if first:
                picked.append(have[name])
            reqs = have[name].requires or []
        for text in reqs:
            req = Requirement(text)
            if not wanted(req, extras):
                continue
            dep = canonicalize_name(req.name)
            if dep in wheels:
                todo.append((dep, set(req.extras)))
            elif dep not in have:
                problems.append(f"{name} requires {text}: not installed here")
            elif not req.specifier.contains(have[dep].version, prereleases=True):
                problems.append(f"{name} requires {text}: here {have[dep].version}")
            else:
                todo.append((dep, set(req.extras)))
    return picked_wheels, picked, problems


def link_folder(dists: list[md.Distribution], folder: Path) -> None:
    """Symlinks to the site-packages entries of ``dists`` (their RECORD's top names)."""
    folder.mkdir()
    for d in dists:
        assert d.files is not None, f"{d.metadata['Name']} has no RECORD; cannot tell its files"
        tops = {f.parts[0] for f in d.files if f.parts and f.parts[0] not in ("..", "__pycache__")}
        for top in tops:
            target = Path(d.locate_file(top))
            if top.endswith(".pth") or not (target.exists() or target.is_symlink()) or (folder / top).exists():
                continue
            (folder / top).symlink_to(target, target_is_directory=target.is_dir())


def clean_env(venv: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV")}
    env.update(VIRTUAL_ENV=str(venv), PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", PYTHONNOUSERSITE="1",
               MPLBACKEND="Agg", HF_HUB_OFFLINE="1")
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


INSPECT = """
import importlib, importlib.metadata as md, json, sys
out = {"path": sys.path, "dists": {}, "files": {}}
for d in md.distributions():
    out["dists"].setdefault(d.metadata["Name"], [d.version, str(d.locate_file(""))])
for name in sys.argv[1:]:
    out["files"][name] = importlib.import_module(name).__file__
print(json.dumps(out))
"""


@pytest.mark.parametrize("domain", [d if d == FAST else pytest.param(d, marks=pytest.mark.slow) for d in PLUGINS])
def test_core_and_one_plugin_install_alone(wheelhouse, tmp_path, domain):
    pkg, project = f"jepakit_{domain}", canonicalize_name(f"jepakit-{domain}")
    wheels, dists, problems = closure(["jepakit", project], wheelhouse)
    assert not problems, "declared requirements this environment cannot meet:\n" + "\n".join(problems)
    assert {w.name.split("-")[0] for w in wheels} >= {"jepakit", pkg}

    venv, links = tmp_path / "venv", tmp_path / "site-links"
    proc = run([getattr(sys, "_base_executable", sys.executable), "-m", "venv", "--without-pip", venv])
    assert proc.returncode == 0, explain(proc)
    vpy, site = venv / "bin" / "python", venv / SITE.relative_to(sys.prefix)
    assert site.is_dir(), site
    link_folder(dists, links)
    (site / "_jepakit_test_deps.pth").write_text(f"{links}\n")
    env = clean_env(venv)

    # from the wheel folder only: no index, no editable install, no dependency resolution
    # (the dependencies are the linked folder's)
    proc = run([sys.executable, "-m", "pip", "--python", vpy, "install", "-q", "--disable-pip-version-check",
                "--no-index", "--no-deps", "--find-links", wheels[0].parent, *wheels], env=env, cwd=tmp_path)
    assert proc.returncode == 0, explain(proc)

    proc = run([vpy, "-c", INSPECT, "jepakit", pkg], env=env, cwd=tmp_path)
    assert proc.returncode == 0, explain(proc)
    seen = json.loads(proc.stdout)
    assert not [p for p in seen["path"] if p.startswith(str(ROOT))], f"the checkout leaks onto sys.path: {seen['path']}"
    for name, file in seen["files"].items():
        here = Path(file).resolve()
        assert here.is_relative_to(venv.resolve()), f"{name} imports from {here}, not from the clean environment"
        assert (here.parent / "py.typed").is_file(), f"{name} is installed without py.typed"
    installed = {canonicalize_name(n): v for n, (v, _) in seen["dists"].items()}
    assert not {n for n in installed if n.startswith("jepakit")} - {canonicalize_name(w.name.split("-")[0]) for w in wheels}
    unmet = []
    for wheel in wheels:
        for text in metadata_of(wheel)[0].get_all("Requires-Dist") or []:
            req = Requirement(text)
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            got = installed.get(canonicalize_name(req.name))
            if got is None or not req.specifier.contains(got, prereleases=True):
                unmet.append(f"{wheel.name}: {text} (installed: {got})")
    assert not unmet, "unmet requirements in the clean environment:\n" + "\n".join(unmet)

    proc = run([venv / "bin" / "jepakit", "domains"], env=env, cwd=tmp_path)
    assert proc.returncode == 0, explain(proc)
    assert "FAILED" not in proc.stdout, proc.stdout
    plugins = {line.split()[0] for line in proc.stdout.splitlines() if line.strip() and not line[0].isspace()}
    assert plugins == {"jepakit", domain}, proc.stdout
    assert f"domains: {domain}" in proc.stdout, proc.stdout

    out = tmp_path / "bench"
    sets = [a for s in TINY + SMALLER.get(domain, []) for a in ("--set", s)]
    proc = run([venv / "bin" / "jepakit", "bench", domain, "--quick", *sets, "--out", out], env=env, cwd=tmp_path)
    assert proc.returncode == 0, explain(proc)
    assert (out / "report.md").is_file(), explain(proc)
