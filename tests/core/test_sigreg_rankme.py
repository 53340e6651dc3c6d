import math
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
    assert s_gauss < 1.5
    assert s_coll > 100 * s_gauss and s_sq > 20 * s_gauss


def test_sigreg_matches_the_symmetric_reference_integral():
    # Under H0, E[N |ECF(t) - phi(t)|^2] = 1 - exp(-t^2), so the statistic's expectation is
    # the integral over [-3, 3] of (1 - exp(-t^2)) exp(-t^2/2) = 1.06 (LeJEPA's weights:
    # 2 dt inside, dt at the ends). Integrating only [0, 3] gives half (0.53).
    t = torch.linspace(-3, 3, 20001, dtype=torch.float64)
    expected = float(torch.trapezoid((1 - torch.exp(-t * t)) * torch.exp(-t * t / 2), t))
    vals = [sigreg(torch.randn(4096, 32, generator=torch.Generator().manual_seed(s)), generator=torch.Generator().manual_seed(s)).item() for s in range(8)]
    assert sum(vals) / len(vals) == pytest.approx(expected, rel=0.08)
    # and the weights themselves: the doubled trapezoid times exp(-t^2/2)
    from jepakit.sigreg import EppsPulley

    ep = EppsPulley(17, 3.0)
    dt = 3.0 / 16
    assert float(ep.weights[0]) == pytest.approx(dt) and float(ep.weights[1]) == pytest.approx(2 * dt * math.exp(-dt * dt / 2))


def test_sigreg_cost_is_linear_in_batch():
    # statistic of a Gaussian batch stays O(1) when N grows (N * squared ECF error ~ const)
    vals = [sigreg(torch.randn(n, 32), generator=torch.Generator().manual_seed(0)).item() for n in (256, 4096)]
    assert max(vals) < 1.5


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


class _Ignores(torch.nn.Module):
    """A tokenizer that ignores its input: token n is ``code[n]`` (a code per position), or
    (``constant``) the mean of the codes at every position of every item."""

    dim = 16

    def __init__(self, constant: bool):
        super().__init__()
        code = torch.randn(32, self.dim, generator=torch.Generator().manual_seed(5)) * 3
        self.register_buffer("code", code.mean(0).expand(32, -1).clone() if constant else code)

    def layout(self, batch):
        from jepakit import Layout

        return Layout((32,))

    def forward(self, batch, keep=None):
        b = batch["x"].shape[0]
        table = self.code.expand(b, -1, -1)
        return table if keep is None else torch.gather(table, 1, keep.unsqueeze(-1).expand(-1, -1, self.dim))


def _reg_of(constant: bool) -> float:
    from jepakit.masks import RandomSubsetMasker
    from jepakit.model import JEPA, Backbone
    from jepakit.targets import SIGRegTarget

    torch.manual_seed(0)
    backbone = Backbone(_Ignores(constant), (32,), 0, width=16, depth=0, heads=2, pos="none")
    backbone.norm = torch.nn.Identity()  # the encoder's output is the tokenizer's code itself
    model = JEPA(backbone, SIGRegTarget(lam=0.05), pred_width=8, pred_depth=1, pred_heads=2)
    masks = RandomSubsetMasker(0.5, 0.125, 4)(backbone.tokenizer.layout({}), 512, torch.Generator().manual_seed(1))
    with torch.no_grad():
        return float(model({"x": torch.randn(512, 1)}, masks)["sigreg"])


def test_an_encoder_that_ignores_its_input_pays_like_a_constant_one():
    # a code per position makes the pooled *context* vary with the random mask, which
    # let the old regulariser (on the context) charge it a fraction of a constant's
    # penalty; pooled over the full view it is the same for every item, as a constant is
    position_code, constant = _reg_of(False), _reg_of(True)
    gauss = sigreg(torch.randn(512, 16), generator=torch.Generator().manual_seed(0)).item()
    assert position_code == pytest.approx(constant, rel=0.05)
    assert position_code > 50 * gauss


def test_sigreg_positions_penalise_position_codes_across_the_batch():
    from jepakit.sigreg import view_sigreg

    g = torch.Generator().manual_seed(0)
    codes = torch.randn(1, 10, 16, generator=g).expand(128, 10, 16)  # same code per position for every item
    varied = torch.randn(128, 10, 16, generator=g)
    hit = view_sigreg(codes, None, "positions", 256, 10, torch.Generator().manual_seed(1)).item()
    fine = view_sigreg(varied, None, "positions", 256, 10, torch.Generator().manual_seed(1)).item()
    assert hit > 20 * fine
    # invalid tokens are left out of the per-position test, not counted as data
    valid = torch.ones(128, 10, dtype=torch.bool)
    valid[:64, 3] = False
    assert math.isfinite(view_sigreg(varied, valid, "pooled+positions", 64, 10, torch.Generator().manual_seed(1)).item())


def test_reference_defaults_for_sigreg():
    from jepakit.config import DEFAULTS
    from jepakit.targets import SIGRegTarget

    assert SIGRegTarget().num_slices == 1024 and SIGRegTarget().lam == 0.05
    assert DEFAULTS["loss"]["sigreg_slices"] == 1024


def test_ecf_recurrence_and_its_backward_match_direct_cos_and_sin():
    # the recurrence e^{ik dt x} = (e^{i dt x})^k and its hand-written backward against
    # one cos/sin per knot with autograd's gradient, on random data with masked samples
    from jepakit.sigreg import _ECFSums

    g = torch.Generator().manual_seed(0)
    proj = (torch.randn(3, 40, 5, generator=g, dtype=torch.float64) * 2).requires_grad_(True)
    weight = (torch.rand(3, 40, generator=g, dtype=torch.float64) > 0.2).double()
    dt, knots = 3.0 / 16, 17
    fast = _ECFSums.apply(proj, weight, dt, knots)
    t = torch.arange(knots, dtype=torch.float64) * dt
    arg = proj.unsqueeze(-1) * t  # (3, 40, 5, T)
    w = weight[..., None, None]
    direct = torch.stack([(torch.cos(arg) * w).sum(-3), (torch.sin(arg) * w).sum(-3)])
    assert torch.allclose(fast, direct, atol=1e-10)
    up = torch.randn(direct.shape, generator=g, dtype=torch.float64)
    (g_fast,) = torch.autograd.grad((fast * up).sum(), proj)
    (g_direct,) = torch.autograd.grad((direct * up).sum(), proj)
    assert torch.allclose(g_fast, g_direct, atol=1e-9)
    assert torch.autograd.gradcheck(lambda p: _ECFSums.apply(p, weight, dt, knots), (proj,))
