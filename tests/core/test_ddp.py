"""Pretraining under torchrun with two gloo processes on CPU."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "jepakit-sines" / "src" / "jepakit_sines" / "plugin.py"

SCRIPT = textwrap.dedent(
    """
    import importlib.util, sys, torch.distributed as dist
    import jepakit
    from jepakit.train import pretrain
    spec = importlib.util.spec_from_file_location("sines_plugin", sys.argv[1])
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    jepakit.register_plugin(mod, "sines")
    run = pretrain("sines", out=sys.argv[2], overrides={
        "train": {"steps": 3, "batch_size": 8, "progress": False, "rankme_every": 0},
        "target": {"name": "sigreg"}, "data": {"n": 64},
        "model": {"width": 32, "depth": 1, "heads": 2, "pred_width": 16, "pred_depth": 1, "pred_heads": 2}})
    print(f"RANK {dist.get_rank()} WORLD {dist.get_world_size()} LOSS {run.history[-1]['loss']:.6f}")
    """
)


def test_pretrain_under_torchrun(tmp_path):
    script = tmp_path / "ddp_pretrain.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, OMP_NUM_THREADS="1", JEPAKIT_PLUGINS="")
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29534", str(script), str(EXAMPLE), str(tmp_path / "run")],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RANK")]
    assert sorted(line.split()[1] for line in lines) == ["0", "1"] and all("WORLD 2" in line for line in lines)
    state = json.loads(next((tmp_path / "run" / "checkpoints").glob("step-*/state.json")).read_text())
    assert state["step"] == 3
