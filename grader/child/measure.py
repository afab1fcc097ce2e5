"""Measurements that run student code, so they run in the child: the inputs of a
timed call, and the throughput table of `course bench` (not graded).

FLOP model (forward, Nq = Nk = n): 4 * batch * heads * n^2 * head_dim, half of it
under causal. Level 4's decode step uses FlashMLA's formulas (`mla_work`).
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
    """The positional arguments of a timed call (q, k, v; or q, k_cache, block_table,
    cache_seqlens for a decode step), from ``seed``: the parent makes the same ones to
    check the answer of a timed call."""
    import torch

    if shape.get("kind") == "mla_decode":
        return mla_inputs(shape["batch"], shape["s_q"], shape["heads"], shape["n"], shape["head_dim"],
                          shape["block_size"], getattr(torch, shape["dtype"]), device, seed)
    gen = torch.Generator(device=device).manual_seed(seed)
    dims = (shape["batch"], shape["heads"], shape["n"], shape["head_dim"])
    dtype = getattr(torch, shape["dtype"])
    return tuple(torch.randn(dims, generator=gen, device=device, dtype=dtype) for _ in range(3))


def bench_kwargs(shape: dict) -> dict:
    """The keyword arguments of a timed call."""
    if shape.get("kind") == "mla_decode":
        return {"head_dim_v": shape["head_dim_v"], "causal": shape["causal"]}
    return {"causal": shape["causal"]}


def bench_work(shape: dict) -> tuple[float, float]:
    """(FLOPs, minimum bytes) of one timed call."""
    if shape.get("kind") == "mla_decode":
        return mla_work(shape["batch"] * shape["n"], shape["batch"], shape["s_q"], shape["heads"], 1,
                        shape["head_dim"], shape["head_dim_v"], 2)
    bytes_ = 4 * shape["batch"] * shape["heads"] * shape["n"] * shape["head_dim"] * 2
    return attention_flops(shape["batch"], shape["heads"], shape["n"], shape["head_dim"], shape["causal"]), bytes_


def mla_inputs(batch: int, s_q: int, heads_q: int, mean_len: int, head_dim: int, block_size: int, dtype,
               device: str, seed: int = 0, varied: bool = False, heads_kv: int = 1):
    """A decode step as FlashMLA's tests and benchmark build it: ``(q, k_cache,
    block_table, cache_seqlens)`` with every sequence ``mean_len`` long (``varied``:
    drawn from N(mean, mean / 2), at least ``s_q``), each row's pages taken from a
    shuffled pool, and NaN in every slot past a sequence's length."""
    import torch

    cpu = torch.Generator().manual_seed(seed)
    if varied:
        lengths = (torch.randn(batch, generator=cpu) * (mean_len / 2) + mean_len).round().clamp(min=s_q)
    else:
        lengths = torch.full((batch,), float(mean_len))
    lengths = lengths.to(torch.int32)
    max_blocks = -(-int(lengths.max()) // block_size)
    block_table = torch.randperm(batch * max_blocks, generator=cpu).view(batch, max_blocks).to(torch.int32)
    gen = torch.Generator(device=device).manual_seed(seed)
    k_cache = torch.randn(batch * max_blocks, block_size, heads_kv, head_dim, generator=gen, device=device,
                          dtype=dtype)
    q = torch.randn(batch, s_q, heads_q, head_dim, generator=gen, device=device, dtype=dtype)
    block_table, lengths = block_table.to(device), lengths.to(device)
    past_end = torch.arange(max_blocks * block_size, device=device) >= lengths.unsqueeze(1)  # [b, tokens]
    pages = block_table.long().repeat_interleave(block_size, dim=1)  # the page of every token slot
    slots = torch.arange(max_blocks * block_size, device=device).remainder(block_size).expand_as(pages)
    k_cache[pages[past_end], slots[past_end]] = float("nan")
    return q, k_cache, block_table, lengths


def mla_work(total_len: int, batch: int, s_q: int, heads_q: int, heads_kv: int, head_dim: int, head_dim_v: int,
             dtype_bytes: int) -> tuple[float, float]:
    """FlashMLA's benchmark formulas: FLOPs ``2 * s_q * h_q * (d + dv)`` per cached
    token (causal masking ignored, as FlashMLA counts it); bytes: the cache read once
    per kv head, q read and out written once."""
    flops = 2.0 * s_q * total_len * heads_q * (head_dim + head_dim_v)
    nbytes = (total_len * heads_kv * head_dim + batch * s_q * heads_q * (head_dim + head_dim_v)) * dtype_bytes
    return flops, float(nbytes)


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
    if request.get("kind") == "mla_decode":
        return run_mla_bench(student, request)
    fn = request["fn"]
    providers = {"student": lambda q, k, v, c: getattr(student, fn)(q, k, v, causal=c),
                 "reference": (lambda f: lambda q, k, v, c: f(q, k, v, causal=c))(
                     getattr(load_module(request["reference_path"], "bench_reference"), fn))}
    if request.get("triton_path"):  # Level 3 beside the Triton kernel of Level 2
        triton_kernel = load_module(request["triton_path"], "bench_triton").flash_attn_v2_triton
        providers["triton (level 2)"] = lambda q, k, v, c: triton_kernel(q, k, v, causal=c)
    providers.update({"sdpa flash": _sdpa("FLASH_ATTENTION"), "sdpa cudnn": _sdpa("CUDNN_ATTENTION")})
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


MLA_BATCH = 128  # FlashMLA's benchmark: b = 128, mean length 4096, d = 576, dv = 512, block 64, bf16, causal
MLA_MEAN_LEN = 4096
MLA_DIMS = (576, 512)
MLA_BLOCK_SIZE = 64


def run_mla_bench(student, request: dict) -> dict:
    """Child side of `course bench level4`: the student's mla_decode, the reference
    kernel and the naive PyTorch reference on FlashMLA's benchmark shapes, each h_q
    and s_q in the request, fixed and varied lengths. GB/s and TFLOP/s by FlashMLA's
    formulas (`mla_work`)."""
    import torch
    import triton

    d, dv = MLA_DIMS
    providers = {"student": getattr(student, request["fn"]),
                 "reference": load_module(request["reference_path"], "bench_reference").mla_decode,
                 "pytorch reference": load_module(request["pytorch_path"], "bench_pytorch").mla_decode_reference}
    points = []
    for varied in (False, True):
        for heads_q in request["heads_q"]:
            for s_q in request["s_q"]:
                q, k_cache, table, lens = mla_inputs(MLA_BATCH, s_q, heads_q, MLA_MEAN_LEN, d, MLA_BLOCK_SIZE,
                                                     torch.bfloat16, "cuda", varied=varied)
                flops, nbytes = mla_work(int(lens.long().sum()), MLA_BATCH, s_q, heads_q, 1, d, dv, 2)
                for name, fn in providers.items():
                    try:
                        ms = triton.testing.do_bench(lambda: fn(q, k_cache, table, lens, dv, causal=True),
                                                     return_mode="median")
                    except Exception:  # noqa: BLE001 - a provider that cannot run a shape is reported as missing
                        ms = float("nan")
                    points.append({"provider": name, "heads_q": heads_q, "s_q": s_q, "varied": varied, "ms": ms,
                                   "tflops": flops / ms / 1e9, "gbps": nbytes / ms / 1e6})
    return {"points": points, "peaks": measured_peaks(), "device_name": torch.cuda.get_device_name()}
