"""Throughput of the integral-image ROA against (2r+1)-kernel convolutions.

    python benchmarks/sar_perf.py [--size 128] [--batch 64] [--threads 1] [--device cpu]

Prints images/second for each implementation at r = 17 alone, at SAR-JEPA's radii
{5, 9, 13, 17}, and the integral image's cost per radius (it should not grow with r).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch

from jepakit_sar.roa import DEFAULT_RADII, roa_gradients, roa_gradients_conv


def _time(fn: Callable[[], torch.Tensor], device: torch.device, min_seconds: float = 1.0) -> float:
    """Median seconds per call over repeated calls lasting at least ``min_seconds``."""
    fn()  # warm-up (allocations, cuDNN algorithm choice)
    times: list[float] = []
    began = time.perf_counter()
    while time.perf_counter() - began < min_seconds or len(times) < 3:
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    times.sort()
    return times[len(times) // 2]


def measure(size: int = 128, batch: int = 64, device: str = "cpu", min_seconds: float = 1.0) -> list[dict]:
    dev = torch.device(device)
    g = torch.Generator().manual_seed(0)
    x = (-torch.log(torch.rand(batch, 1, size, size, generator=g).clamp_min(1e-7))).to(dev)
    rows = []
    for label, radii in (("r=17", (17,)), ("r={5,9,13,17}", DEFAULT_RADII)):
        t_int = _time(lambda radii=radii: roa_gradients(x, radii), dev, min_seconds)
        t_conv = _time(lambda radii=radii: roa_gradients_conv(x, radii), dev, min_seconds)
        err = float((roa_gradients(x, radii) - roa_gradients_conv(x, radii)).abs().max())
        rows.append({"radii": label, "integral_img_s": batch / t_int, "conv_img_s": batch / t_conv, "speedup": t_conv / t_int, "max_abs_diff": err})
    for r in (1, 5, 9, 13, 17, 25):
        rows.append({"radii": f"integral r={r}", "integral_img_s": batch / _time(lambda r=r: roa_gradients(x, (r,)), dev, min_seconds)})
    return rows


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=128, help="chip size in pixels (SAR-JEPA uses 128)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--device", default="cpu")
    p.add_argument("--seconds", type=float, default=1.0, help="minimum timing per measurement")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"ROA throughput: {args.batch} chips of {args.size}x{args.size}, device {args.device}, {args.threads} thread(s), torch {torch.__version__}")
    print(f"{'radii':<18}{'integral img/s':>16}{'conv img/s':>14}{'speed-up':>10}{'max |diff|':>12}")
    for r in measure(args.size, args.batch, args.device, args.seconds):
        if "conv_img_s" in r:
            print(f"{r['radii']:<18}{r['integral_img_s']:>16.1f}{r['conv_img_s']:>14.1f}{r['speedup']:>9.1f}x{r['max_abs_diff']:>12.2e}")
        else:
            print(f"{r['radii']:<18}{r['integral_img_s']:>16.1f}")


if __name__ == "__main__":
    main()
