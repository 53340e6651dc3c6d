"""Registration without torch, the domain end to end (pretrain, resume, retrieve), and
the Python and command-line twins of a `jepakit retrieve`."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from jepakit import plugins as plugmod


def test_listing_the_plugin_imports_no_torch():
    code = ("import sys, jepakit_pairs, jepakit_pairs.plugin, jepakit_pairs.presets; "
            "print('torch' in sys.modules, 'soundfile' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]


def test_every_component_is_registered_with_the_domain():
    for kind, name in [("tokenizer", "av-pair"), ("masker", "pair"), ("predictor", "pair-heads"), ("target", "pair-key"),
                       ("loss", "semisup"), ("domain", "pairs")]:
        assert name in plugmod.registry(kind), (kind, name)
    dom = plugmod.get_domain("pairs")
    assert set(dom.variants) == {"mixed", "ssl", "label"} and set(dom.evaluations) == {"v2a", "a2v"}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    from jepakit.train import pretrain

    plugmod.reset()
    out = tmp_path_factory.mktemp("pairs") / "run"
    sets = ["train.steps=4", "train.batch_size=16", "model.depth=1", "model.width=32", "model.pred_width=32",
            "data.n_pretrain=48", "data.n_train=24", "data.n_test=24", "train.progress=false", "train.rankme_every=0"]
    return pretrain("pairs", out=out, overrides=sets, echo=False)


def test_the_python_twin_ranks_the_other_modality_at_any_weight(quick_run):
    import jepakit_pairs

    rows = jepakit_pairs.retrieve(quick_run.out, query="video", w=0.25, k=3, items=[0, 2])
    assert [r["query"] for r in rows] == [quick_run.bundle.tasks["genre"].test.ids[i] for i in (0, 2)]
    assert all(len(r["ids"]) == 3 and r["scores"] == sorted(r["scores"], reverse=True) and r["rank"] >= 1 for r in rows)
    back = jepakit_pairs.retrieve(quick_run.out, query="audio", w=1.0, k=24)
    assert len(back) == 24 and all(sorted(r["ids"]) == sorted(quick_run.bundle.tasks["genre"].test.ids) for r in back)


def test_the_command_line_twin(quick_run, capsys):
    from jepakit_pairs.retrieval import main

    assert main([str(quick_run.out), "--w", "0.5", "--k", "2", "--items", "1"]) == 0
    row = json.loads(capsys.readouterr().out.strip())
    assert len(row["ids"]) == 2
    assert main([str(quick_run.out), "--w", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "w must be in [0, 1]" in err and "\n" not in err


def test_the_benchmark_evaluation_reports_both_directions_and_the_knob(quick_run):
    from jepakit_pairs.retrieval import KNOB, music_to_video, video_to_music

    run = quick_run
    v = video_to_music(run.model.backbone, run.model, run.bundle, run.config)
    a = music_to_video(run.model.backbone, run.model, run.bundle, run.config)
    for m in (v, a):
        assert {"R@1", "R@5", "R@10", "medR", "genre@10", "w"} <= set(m)
        assert all(f"R@1_w{w:g}" in m and f"genre@10_w{w:g}" in m for w in KNOB)
        assert 0 <= m["R@1"] <= m["R@5"] <= m["R@10"] <= 1 and 1 <= m["medR"] <= 24
    from jepakit.train import build_backbone

    rand = video_to_music(build_backbone(run.config, run.bundle), None, run.bundle, run.config)
    assert rand["R@1_w0"] == rand["R@1_w1"]  # a bare encoder has no knob


@pytest.mark.slow  # ~60 s: 150 steps of the default model on 512 pairs
def test_training_learns_pairs_and_genres_and_the_knob_trades_them(tmp_path):
    from jepakit.train import pretrain
    from jepakit_pairs.retrieval import video_to_music

    sets = ["train.steps=150", "train.batch_size=64", "data.n_pretrain=512", "data.n_train=64", "data.n_test=128",
            "train.progress=false", "train.rankme_every=0"]
    run = pretrain("pairs", out=tmp_path / "r", overrides=sets, echo=False)
    m = video_to_music(run.model.backbone, run.model, run.bundle, run.config)
    assert m["R@10_w0"] > 0.3  # chance: 10 / 128 = 0.08
    assert m["genre@10_w1"] > 0.6 and m["genre@10_w1"] >= m["genre@10_w0"]  # chance: ~0.25
    assert m["R@1_w0"] > m["R@1_w1"]


def test_the_package_function_survives_importing_the_cli_module(quick_run):
    import jepakit_pairs
    import jepakit_pairs.retrieve  # noqa: F401  (replaces the package attribute by the module)

    assert callable(jepakit_pairs.retrieve)
    assert len(jepakit_pairs.retrieve(quick_run.out, k=1, items=[0])) == 1
    out = subprocess.run([sys.executable, "-m", "jepakit_pairs.retrieve", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "--w" in out.stdout
