"""Measurements that run student code, so they run in the child: the inputs of a
timed call, and the throughput table of `course bench` (not graded).

FLOP model (forward, Nq = Nk = n): 4 * batch * heads * n^2 * head_dim, half of it
under causal.
"""

from __future__ import annotations

from grader.child.worker import load_module

SEQ_LENS = (512, 1024, 2048, 4096, 8192, 16384)
TOKENS = 16384  # batch * n stays constant so every length does the same work per row
HEADS = 16
PYTORCH_TILED_MAX_N = 1024  # the PyTorch tiled versions are far slower: time them only where quick


def attention_flops(batch: int, heads: int, n: int, head_dim: int, causal: bool) -> float:
    """4 * B * H * N^2 * D for the two matmuls; causal (Nq = Nk) visits about half."""
    flops = 4.0 * batch * heads * n * n * head_dim
    return flops / 2 if causal else flops


def bench_inputs(shape: dict, device: str, seed: int = 0):
    """q, k, v of the timing shape, from ``seed``: the parent makes the same ones to
    check the answer of a timed call."""
    import torch

    gen = torch.Generator(device=device).manual_seed(seed)
    dims = (shape["batch"], shape["heads"], shape["n"], shape["head_dim"])
    dtype = getattr(torch, shape["dtype"])
    return tuple(torch.randn(dims, generator=gen, device=device, dtype=dtype) for _ in range(3))


def _sdpa(backend_name: str):
    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel

    backend = getattr(SDPBackend, backend_name)

    def run(q, k, v, causal):
        with sdpa_kernel(backend):
            return torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=causal)

    return run


def measured_peaks() -> dict:
    """The device's own ceilings, measured now: fp16 matmul TFLOP/s and copy GB/s."""
    import torch
    import triton

    a = torch.randn(8192, 8192, device="cuda", dtype=torch.float16)
    ms = triton.testing.do_bench(lambda: a @ a, return_mode="median")
    big = torch.empty(1 << 29, device="cuda", dtype=torch.uint8)  # 512 MiB, far past L2
    copy_ms = triton.testing.do_bench(lambda: big.clone(), return_mode="median")
    return {"matmul_tflops": 2 * 8192**3 / ms / 1e9, "copy_gbps": 2 * big.numel() / copy_ms / 1e6}


def run_bench(student, request: dict) -> dict:
    """Child side: every provider on every shape; returns points and peaks."""
    import torch
    import triton

    torch.utils.deterministic.fill_uninitialized_memory = False
    fn = request["fn"]
    providers = {"student": lambda q, k, v, c: getattr(student, fn)(q, k, v, causal=c),
                 "reference": (lambda f: lambda q, k, v, c: f(q, k, v, causal=c))(
                     getattr(load_module(request["reference_path"], "bench_reference"), fn)),
                 "sdpa flash": _sdpa("FLASH_ATTENTION"), "sdpa cudnn": _sdpa("CUDNN_ATTENTION")}
    if request.get("tiled_path"):
        tiled = load_module(request["tiled_path"], "bench_tiled").flash_attn_v2
        providers["pytorch tiled v2"] = lambda q, k, v, c: tiled(q, k, v, causal=c, block_m=128, block_n=128)
    points = []
    for head_dim in request["head_dims"]:
        for causal in (False, True):
            for n in request["seq_lens"]:
                batch = max(1, TOKENS // n)
                q, k, v = (torch.randn(batch, HEADS, n, head_dim, device="cuda", dtype=torch.float16)
                           for _ in range(3))
                flops = attention_flops(batch, HEADS, n, head_dim, causal)
                for name, run in providers.items():
                    if name == "pytorch tiled v2" and n > PYTORCH_TILED_MAX_N:
                        continue
                    try:
                        ms = triton.testing.do_bench(lambda: run(q, k, v, causal), return_mode="median")
                    except Exception:  # noqa: BLE001 - a back end that cannot run a shape is reported as missing
                        ms = float("nan")
                    points.append({"provider": name, "head_dim": head_dim, "causal": causal, "n": n, "ms": ms,
                                   "tflops": flops / ms / 1e9})
    return {"points": points, "peaks": measured_peaks(), "device_name": torch.cuda.get_device_name()}


