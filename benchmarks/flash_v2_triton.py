"""Check and time the reference Triton FlashAttention-2 forward (level2.flash_v2_triton).

1. Correctness: the kernel against a float64 attention on awkward shapes (ragged
   lengths, Nq > Nk with causal, grouped heads, transposed views, a non-unit last
   stride, fp16 and bf16, every head dim), on NaN-poisoned outputs, inputs untouched.
2. Speed (CUDA only): the kernel against torch SDPA's FLASH_ATTENTION and
   CUDNN_ATTENTION back ends in the same process, triton.testing.do_bench medians.

FLOP model: 4 * B * H * Nq * Nk * D for non-causal attention (two matrix products of
2 * Nq * Nk * D per head); with causal and Nq == Nk, half of that.

    PYTHONPATH=. python benchmarks/flash_v2_triton.py                       # check + table
    PYTHONPATH=. python benchmarks/flash_v2_triton.py --sweep               # + launch configs
    PYTHONPATH=. python benchmarks/flash_v2_triton.py --check-only --interpret   # CPU box
"""

import argparse
import os
import sys

# TRITON_INTERPRET must be set before triton is imported, so parse the flags first.
_parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
_parser.add_argument("--interpret", action="store_true", help="run under Triton's interpreter on CPU tensors")
_parser.add_argument("--check-only", action="store_true", help="skip the timings")
_parser.add_argument("--sweep", action="store_true", help="also time a grid of launch configs")
_parser.add_argument("--lengths", type=int, nargs="+", default=[1024, 4096, 8192], help="N = Nq = Nk to time")
ARGS = _parser.parse_args()
if ARGS.interpret:
    os.environ["TRITON_INTERPRET"] = "1"

import math  # noqa: E402
from contextlib import contextmanager  # noqa: E402

import torch  # noqa: E402
import triton  # noqa: E402

import solutions.level2.flash_v2_triton as fa  # noqa: E402

DEVICE = "cpu" if ARGS.interpret else "cuda"
REL_TOL = {torch.float16: 2e-3, torch.bfloat16: 1.6e-2}  # ||out - ref|| / ||ref||, P rounded to the dtype
LSE_TOL = 1e-3  # lse comes from float32 scores: far tighter than the output


def attention_f64(q, k, v, causal, scale):
    """Float64 attention: (out, lse), empty causal rows give out = 0, lse = -inf."""
    q, k, v = q.double(), k.double(), v.double()
    group = q.shape[1] // k.shape[1]
    k = k.repeat_interleave(group, dim=1)  # [B, Hq, Nk, D]
    v = v.repeat_interleave(group, dim=1)
    s = scale * q @ k.transpose(-1, -2)  # [B, Hq, Nq, Nk]
    n_q, n_k = q.shape[2], k.shape[2]
    if causal:
        i = torch.arange(n_q, device=q.device)[:, None]
        j = torch.arange(n_k, device=q.device)[None, :]
        s = s.masked_fill(j > i + n_k - n_q, float("-inf"))
    lse = torch.logsumexp(s, dim=-1)  # -inf on empty rows
    p = torch.exp(s - lse[..., None]).nan_to_num(nan=0.0)  # empty rows: -inf - -inf -> 0
    return p @ v, lse


@contextmanager
def poisoned_empty():
    """Make torch.empty return NaN-filled memory, so an unwritten element shows up."""
    real_empty = torch.empty

    def empty(*args, **kwargs):
        t = real_empty(*args, **kwargs)
        return t.fill_(float("nan")) if t.is_floating_point() else t

    torch.empty = empty
    try:
        yield
    finally:
        torch.empty = real_empty


def make_inputs(b, hq, hkv, n_q, n_k, d, dtype, layout, gen):
    """q, k, v in [B, H, N, D] order, laid out as `layout` says, with mixed logit sizes."""

    def one(h, n):
        if layout == "bnhd":  # a [B, N, H, D] tensor viewed as [B, H, N, D]
            t = torch.randn(b, n, h, d, generator=gen).transpose(1, 2)
        elif layout == "bhdn":  # the last dim is not contiguous: pointer path, not TMA
            t = torch.randn(b, h, d, n, generator=gen).transpose(2, 3)
        else:
            t = torch.randn(b, h, n, d, generator=gen)
        return t

    q = one(hq, n_q) * 2.0  # some rows with large logits
    k, v = one(hkv, n_k), one(hkv, n_k)
    return [t.to(dtype=dtype, device=DEVICE) for t in (q, k, v)]


def check_cases():
    """(B, Hq, Hkv, Nq, Nk, D, causal, dtype, layout, softmax_scale)."""
    f16, bf16 = torch.float16, torch.bfloat16
    cases = [
        (1, 1, 1, 1, 1, 64, False, f16, "bhnd", None),
        (1, 2, 1, 1, 7, 16, True, bf16, "bhnd", None),
        (2, 2, 2, 7, 1, 32, False, f16, "bnhd", None),
        (1, 2, 2, 97, 97, 64, True, f16, "bnhd", None),
        (2, 4, 2, 127, 129, 128, True, bf16, "bhnd", None),
        (1, 4, 1, 129, 127, 64, False, bf16, "bnhd", 0.3),
        (1, 2, 1, 129, 97, 32, True, f16, "bhnd", None),  # Nq > Nk: 32 empty rows
        (1, 2, 2, 200, 7, 16, True, bf16, "bhnd", None),  # Nq >> Nk: most rows empty
        (1, 1, 1, 97, 129, 128, False, f16, "bhdn", None),  # strided last dim
        (1, 2, 1, 129, 127, 64, True, bf16, "bhdn", -0.2),  # negative scale
    ]
    if not ARGS.interpret:
        cases += [
            (2, 8, 2, 1025, 1025, 128, True, f16, "bnhd", None),
            (1, 4, 4, 1025, 2049, 64, True, bf16, "bhnd", None),
            (2, 4, 1, 2049, 1025, 128, True, bf16, "bhnd", None),
            (1, 4, 2, 1025, 1025, 16, False, f16, "bnhd", None),
            (1, 2, 2, 1025, 97, 32, False, f16, "bhdn", None),
        ]
    return cases


def run_checks(fn=fa.flash_attn_v2_triton, cases=None):
    """Compare `fn` with the float64 attention; return the number of failures."""
    gen = torch.Generator().manual_seed(0)
    failures = 0
    print(f"{'B':>2} {'Hq':>3} {'Hkv':>3} {'Nq':>5} {'Nk':>5} {'D':>4} {'causal':>6} {'dtype':>8} "
          f"{'layout':>6} {'rel err':>9} {'lse err':>9}  result")
    for b, hq, hkv, n_q, n_k, d, causal, dtype, layout, scale in cases or check_cases():
        q, k, v = make_inputs(b, hq, hkv, n_q, n_k, d, dtype, layout, gen)
        before = [t.clone() for t in (q, k, v)]
        with poisoned_empty():
            out, lse = fn(q, k, v, causal=causal, softmax_scale=scale)
        ref_out, ref_lse = attention_f64(q, k, v, causal, fa.resolve_scale(scale, d))
        problems = []
        if out.shape != ref_out.shape or out.dtype != dtype or lse.dtype != torch.float32:
            problems.append(f"shape/dtype {tuple(out.shape)} {out.dtype} {lse.dtype}")
        if out.isnan().any() or lse.isnan().any():
            idx = torch.nonzero(out.isnan() if out.isnan().any() else lse.isnan())[0].tolist()
            problems.append(f"NaN at {idx}")
        if not torch.equal(torch.isinf(lse), torch.isinf(ref_lse)):
            problems.append("-inf rows differ")
        if not all(torch.equal(x, y) for x, y in zip((q, k, v), before)):
            problems.append("an input was modified")
        rel = ((out.double() - ref_out).norm() / ref_out.norm().clamp_min(1e-30)).item()
        finite = torch.isfinite(ref_lse)
        lse_err = (lse.double() - ref_lse)[finite].abs().max().item() if finite.any() else 0.0
        if not rel <= REL_TOL[dtype]:
            problems.append(f"rel err > {REL_TOL[dtype]}")
        if not lse_err <= LSE_TOL:
            problems.append(f"lse err > {LSE_TOL}")
        failures += bool(problems)
        print(f"{b:>2} {hq:>3} {hkv:>3} {n_q:>5} {n_k:>5} {d:>4} {causal!s:>6} {str(dtype)[6:]:>8} "
              f"{layout:>6} {rel:>9.2e} {lse_err:>9.2e}  {'; '.join(problems) or 'ok'}")
    return failures


def tflops(b, h, n, d, causal, ms):
    flops = 4 * b * h * n * n * d // (2 if causal else 1)
    return flops / (ms * 1e-3) / 1e12


def time_ms(fn):
    return triton.testing.do_bench(fn, warmup=50, rep=300, return_mode="median")


def sdpa(backend):
    from torch.nn.attention import sdpa_kernel
    from torch.nn.functional import scaled_dot_product_attention

    def run(q, k, v, causal):
        with sdpa_kernel(backend):
            return scaled_dot_product_attention(q, k, v, is_causal=causal)

    return run


def bench_inputs(b, h, n, d, dtype=torch.float16):
    gen = torch.Generator(device="cuda").manual_seed(0)
    return [torch.randn(b, h, n, d, device="cuda", dtype=dtype, generator=gen) for _ in range(3)]


def new_kernels(seen):
    """Registers, spills and shared memory of the kernels compiled since the last call."""
    lines = []
    for caches in fa._attn_fwd.device_caches.values():
        for key, kernel in caches[0].items():
            if key not in seen and hasattr(kernel, "n_regs"):  # n_regs appears once it has run
                seen.add(key)
                lines.append(f"regs {kernel.n_regs}, spills {kernel.n_spills}, "
                             f"shared {kernel.metadata.shared} B")
    return "; ".join(lines)


def bench_table(lengths, b=4, h=16):
    from torch.nn.attention import SDPBackend

    flash, cudnn = sdpa(SDPBackend.FLASH_ATTENTION), sdpa(SDPBackend.CUDNN_ATTENTION)
    rows, seen = [], set()
    new_kernels(seen)  # the kernels the checks compiled
    shapes = [(d, causal, n, torch.float16) for d in (64, 128) for causal in (False, True) for n in lengths]
    shapes += [(d, causal, 4096, torch.bfloat16) for d in (64, 128) for causal in (False, True)]
    for d, causal, n, dtype in shapes:
        q, k, v = bench_inputs(b, h, n, d, dtype)
        ours_out = fa.flash_attn_v2_triton(q, k, v, causal=causal)[0]
        report = new_kernels(seen)
        err = (ours_out.float() - flash(q, k, v, causal).float()).abs().max().item()
        ours = lambda: fa.flash_attn_v2_triton(q, k, v, causal=causal)  # noqa: E731
        t = {
            "ours": time_ms(ours),
            "flash": time_ms(lambda: flash(q, k, v, causal)),
            "cudnn": time_ms(lambda: cudnn(q, k, v, causal)),
            # a CUDA graph replays the launch without the host-side wrapper: the kernel alone
            "graph": triton.testing.do_bench_cudagraph(ours, rep=300, return_mode="median"),
        }
        rate = {name: tflops(b, h, n, d, causal, ms) for name, ms in t.items()}
        cfg = fa._pick_config(d, causal, dtype, q.device, interpret=False)
        rows.append((d, causal, n, dtype, rate["ours"], rate["graph"], rate["flash"], rate["cudnn"], cfg))
        print(f"  {str(dtype)[6:]} D={d} causal={causal} N={n}: ours {rate['ours']:.0f}, "
              f"flash {rate['flash']:.0f}, cudnn {rate['cudnn']:.0f} TFLOP/s, "
              f"max|ours - flash| {err:.1e}; {report or 'kernel compiled before'}", flush=True)
    print(f"\nB={b}, H={h}, Nq = Nk = N; TFLOP/s, medians of triton.testing.do_bench; 'graph' is ours\n"
          "replayed from a CUDA graph (no host-side wrapper time); ratios use 'ours'")
    print(f"{'dtype':>8} {'D':>4} {'causal':>6} {'N':>6} {'ours':>6} {'graph':>6} {'flash':>6} {'cudnn':>6} "
          f"{'/flash':>7} {'/cudnn':>7}  config (block_m, block_n, warps, stages)")
    for d, causal, n, dtype, mine, graph, fl, cu, cfg in rows:
        print(f"{str(dtype)[6:]:>8} {d:>4} {causal!s:>6} {n:>6} {mine:>6.0f} {graph:>6.0f} {fl:>6.0f} {cu:>6.0f} "
              f"{mine / fl:>7.2f} {mine / cu:>7.2f}  "
              f"{cfg.block_m}, {cfg.block_n}, {cfg.num_warps}, {cfg.num_stages}")


# head dim -> (block_m, block_n, num_warps, num_stages, use_tma); both rounds of docs/PERFORMANCE.md
SWEEP = {
    32: [(128, 64, 4, 3, True), (128, 128, 4, 3, True), (64, 64, 4, 3, True), (64, 128, 4, 3, True)],
    64: [(128, 64, 4, 3, True), (128, 64, 8, 3, True), (128, 128, 8, 3, True), (128, 128, 4, 3, True),
         (128, 64, 4, 4, True), (128, 128, 8, 2, True), (128, 128, 4, 4, True), (128, 128, 4, 2, True),
         (64, 128, 4, 3, True), (64, 64, 4, 3, True), (64, 64, 4, 4, True),
         (128, 64, 4, 3, False), (128, 128, 8, 3, False), (128, 128, 4, 3, False), (64, 64, 4, 3, False),
         (64, 128, 4, 3, False)],
    128: [(128, 64, 8, 3, True), (128, 64, 8, 2, True), (128, 64, 8, 4, True), (128, 128, 8, 2, True),
          (128, 128, 8, 3, True), (128, 128, 8, 4, True), (128, 64, 4, 3, True), (64, 128, 4, 3, True),
          (64, 128, 4, 2, True), (64, 64, 4, 3, True), (64, 64, 4, 4, True),
          (128, 64, 8, 3, False), (128, 128, 8, 2, False), (128, 128, 8, 3, False), (64, 64, 4, 3, False)],
}


def sweep(b=4, h=16, n=4096):
    """Time each launch config of SWEEP through fa._launch (TMA forced on or off)."""
    real_use_tma = fa._use_tma
    print(f"\nsweep: fp16, B={b}, H={h}, N={n}; TFLOP/s")
    print(f"{'D':>4} {'causal':>6} {'BM':>4} {'BN':>4} {'warps':>5} {'stages':>6} {'tma':>5} "
          f"{'TFLOP/s':>8} {'err':>8}")
    for d, configs in SWEEP.items():
        q, k, v = bench_inputs(b, h, n, d)
        for causal in (False, True):
            ref = fa.flash_attn_v2_triton(q, k, v, causal=causal)[0].float()
            for bm, bn, w, s, tma in configs:
                cfg = fa._LaunchConfig(bm, bn, w, s)
                fa._use_tma = (lambda t, i: real_use_tma(t, i)) if tma else (lambda t, i: False)
                try:
                    run = lambda: fa._launch(q, k, v, causal, 1 / math.sqrt(d), cfg)  # noqa: E731
                    err = (run()[0].float() - ref).abs().max().item()
                    res = f"{tflops(b, h, n, d, causal, time_ms(run)):>8.0f} {err:>8.1e}"
                except Exception as e:  # a config the compiler rejects (shared memory, ...)
                    res = f"failed: {type(e).__name__}: {str(e).splitlines()[0][:80]}"
                finally:
                    fa._use_tma = real_use_tma
                print(f"{d:>4} {causal!s:>6} {bm:>4} {bn:>4} {w:>5} {s:>6} {tma!s:>5} {res}", flush=True)


def main():
    if ARGS.interpret:
        print("Triton interpreter on CPU tensors")
    else:
        print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}, triton {triton.__version__}")
    failures = run_checks()
    print(f"{failures} failing case(s)\n", flush=True)
    if not ARGS.check_only and not ARGS.interpret:
        if ARGS.sweep:
            sweep()
        bench_table(ARGS.lengths)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
