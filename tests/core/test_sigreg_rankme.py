import os
import subprocess
import sys
import textwrap

import pytest
import torch

from jepakit.evaluate import rankme
from jepakit.targets import sigreg


def test_sigreg_is_small_for_gaussians_and_large_for_collapse():
    g = torch.Generator().manual_seed(0)
    gauss = torch.randn(2048, 64, generator=g)
    collapsed = torch.zeros(2048, 64) + 0.01 * torch.randn(2048, 64, generator=g)
    squashed = gauss * 0.2
    s_gauss = sigreg(gauss, generator=torch.Generator().manual_seed(1)).item()
    s_coll = sigreg(collapsed, generator=torch.Generator().manual_seed(1)).item()
    s_sq = sigreg(squashed, generator=torch.Generator().manual_seed(1)).item()
    assert s_gauss < 1.0
    assert s_coll > 100 * s_gauss and s_sq > 20 * s_gauss


def test_sigreg_cost_is_linear_in_batch():
    # statistic of a Gaussian batch stays O(1) when N grows (N * squared ECF error ~ const)
    vals = [sigreg(torch.randn(n, 32), generator=torch.Generator().manual_seed(0)).item() for n in (256, 4096)]
    assert max(vals) < 1.0


def test_sigreg_has_gradients():
    x = torch.randn(64, 16, requires_grad=True)
    sigreg(x * 0.1).backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


SCRIPT = textwrap.dedent(
    """
    import sys, torch, torch.distributed as dist
    from jepakit.targets import sigreg
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    x = torch.randn(512, 24, generator=torch.Generator().manual_seed(7)) * 0.7 + 0.1
    part = x.chunk(world)[rank].clone().requires_grad_(True)
    value = sigreg(part, generator=torch.Generator().manual_seed(3))
    value.backward()
    if rank == 0:
        print(f"VALUE {value.item():.10f}")
        print(f"GRADNORM {part.grad.norm().item():.10f}")
    dist.destroy_process_group()
    """
)


def test_sigreg_under_torchrun_equals_single_process(tmp_path):
    script = tmp_path / "ddp_sigreg.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29533", str(script)],
        capture_output=True, text=True, timeout=240, env=env,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    dist_value = float(next(line.split()[1] for line in proc.stdout.splitlines() if line.startswith("VALUE")))
    x = torch.randn(512, 24, generator=torch.Generator().manual_seed(7)) * 0.7 + 0.1
    single = sigreg(x, generator=torch.Generator().manual_seed(3)).item()
    assert dist_value == pytest.approx(single, rel=1e-5)


@pytest.mark.parametrize("rank", [1, 3, 10])
def test_rankme_recovers_known_rank(rank):
    g = torch.Generator().manual_seed(rank)
    q1, _ = torch.linalg.qr(torch.randn(500, rank, generator=g))
    q2, _ = torch.linalg.qr(torch.randn(64, rank, generator=g))
    z = q1 @ q2.T * 3.0  # rank `rank`, equal singular values
    assert rankme(z) == pytest.approx(rank, rel=1e-3)


def test_rankme_epsilon_is_a_parameter():
    z = torch.randn(200, 16)
    assert rankme(z, eps=0.0) < 16.0 + 1e-6
    assert rankme(z, eps=1e-2) != pytest.approx(rankme(z, eps=0.0))
