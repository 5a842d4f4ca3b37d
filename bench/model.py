"""Embedding throughput: the shipped model against the paper's exact network, same run.

    python -m bench.model [--model PATH] [--device cpu|cuda] [--threads 2] [--runs 5]

Each variant embeds batches of 1 s windows of audio (log-mel included, as a scan does)
for at least ``--seconds`` per run; the figure is the median windows/s over ``--runs``
runs. Variants:

* ``paper fp32``: the paper's exact net (128 × 126 log-mel, 4 × 128-channel blocks),
  untrained weights, as the authors ran it (no folding).
* ``shipped``: the bundled weights (or ``--model``) as the app loads them
  (BatchNorm folded), fp32.
* ``shipped channels-last`` and ``shipped bf16`` (CPU autocast where the CPU has bf16
  instructions) / ``fp16`` (CUDA autocast): options the app could take; printed so the
  choice is measured, not assumed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

from models import FeatureParams, NetworkConfig, build_untrained, load_model, resolve_device
from models.network import fuse_for_inference
from models.train import LEAN_FEATURES


def _rate(fn: Callable[[torch.Tensor], torch.Tensor], audio: torch.Tensor, seconds: float,
          device: torch.device) -> float:
    fn(audio)  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    n, t0 = 0, time.perf_counter()
    while True:
        fn(audio)
        if device.type == "cuda":
            torch.cuda.synchronize()
        n += len(audio)
        if time.perf_counter() - t0 >= seconds:
            return n / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", type=Path, default=None, help="weights (default: bundled)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=None, help="windows a batch (CPU 64, CUDA 2048)")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)

    from core.allocator import tune_allocator

    tune_allocator()  # as the app's CLI does: keeps freed tensors' memory in the heap
    device = resolve_device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(args.threads)
    batch = args.batch or (2048 if device.type == "cuda" else 64)
    torch.manual_seed(0)
    audio = (torch.randn(batch, 16_000) * 0.1).to(device)

    try:
        shipped = load_model(args.model, device)
        shipped_name = shipped.info.model_id
    except Exception as exc:  # no weights yet: time the same architecture, untrained
        print(f"(no shipped weights: {exc}; timing an untrained lean net)")
        shipped = build_untrained(LEAN_FEATURES, NetworkConfig.lean(), device=device)
        fuse_for_inference(shipped.net)
        shipped_name = "lean (untrained)"
    paper = build_untrained(FeatureParams(), NetworkConfig(), device=device)

    variants: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
        "paper fp32": paper.embed_audio,
        "shipped fp32": shipped.embed_audio,
    }

    cl_net = shipped.net
    def channels_last(x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            m = shipped.features(x).unsqueeze(1)
            z = cl_net.input_norm(m).contiguous(memory_format=torch.channels_last)
            z = cl_net.blocks(z).amax(-1)
            return cl_net.project(z.flatten(1))
    variants["shipped channels-last"] = channels_last

    if device.type == "cuda":
        def half(x: torch.Tensor) -> torch.Tensor:
            with torch.autocast("cuda", dtype=torch.float16):
                return shipped.embed_audio(x)
        variants["shipped fp16 autocast"] = half
    else:
        cap = torch.backends.cpu.get_cpu_capability()
        if "AVX512" in cap or "AMX" in cap:
            def bf16(x: torch.Tensor) -> torch.Tensor:
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    return shipped.embed_audio(x)
            variants["shipped bf16 autocast"] = bf16

    results: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(args.runs):
        for name, fn in variants.items():
            results[name].append(_rate(fn, audio, args.seconds, device))
    cap = torch.backends.cpu.get_cpu_capability()
    where = (torch.cuda.get_device_name(device) if device.type == "cuda"
             else f"CPU, {torch.get_num_threads()} threads, {cap}")
    print(f"embedding throughput, {where}, batch {batch}, median of {args.runs} runs "
          f"(shipped = {shipped_name})")
    base = statistics.median(results["paper fp32"])
    print(f"{'variant':<26} {'windows/s':>10} {'× paper':>8}")
    for name, rates in results.items():
        med = statistics.median(rates)
        print(f"{name:<26} {med:>10.0f} {med / base:>8.1f}")
    if args.json:
        args.json.write_text(json.dumps({"device": where, "batch": batch, "runs": results,
                                         "shipped": shipped_name}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
