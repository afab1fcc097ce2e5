"""Check and time the reference CUDA FlashAttention-2 forward (solutions/level3/flash_fwd.cu).

The .cu file is built with nvcc into small shared libraries, one per variant (its
numbered versions, other tile sizes, and the wrong kernels that
scripts/level3_wrong_kernels.py makes from the solution), each behind the C entry point of
benchmarks/flash_fwd_cuda_shim.cu and loaded with ctypes, so one process holds them
all and times them against each other on the same inputs.

1. Correctness: every variant against a float64 attention on awkward shapes (ragged
   lengths 1, 63, 65, 129, 1000; causal with Nq > Nk and Nq < Nk; grouped heads;
   transposed [B, N, H, D] views; fp16 and bf16; D = 64 and 128) on NaN-poisoned
   outputs. The solution's versions must pass; the wrong kernels must not, and their
   rows show how they fail.
2. Speed: fp16 and bf16, B = 4, H = 16, N = 4096 (and an N sweep at B * N = 16384 for
   the reference), against torch SDPA's FLASH_ATTENTION and CUDNN_ATTENTION back ends
   and the Level 2 Triton reference, triton.testing.do_bench medians in one process.

FLOP model: 4 * B * H * Nq * Nk * D (two matrix products of 2 * Nq * Nk * D per head),
half of it under causal with Nq == Nk.

    python benchmarks/flash_fwd_cuda.py --build-only                 # nvcc, no GPU needed
    PYTHONPATH=. python benchmarks/flash_fwd_cuda.py                 # build + check + time
    PYTHONPATH=. python benchmarks/flash_fwd_cuda.py --sanitize v4   # one small ragged causal
        # case, meant to run under compute-sanitizer --tool memcheck / racecheck
"""

from __future__ import annotations

import argparse
import ctypes
import math
import os
import re
import runpy
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOLUTION = ROOT / "solutions/level3/flash_fwd.cu"
# The version the solution builds by default (its `#define FLASH_VERSION N`): "the reference".
REFERENCE = "v" + re.search(r"#define FLASH_VERSION (\d+)", SOLUTION.read_text()).group(1)
SHIM = ROOT / "benchmarks/flash_fwd_cuda_shim.cu"

# name -> (source, extra nvcc flags, what it shows); the solution's default is its last version.
VARIANTS = {
    "v1": (SOLUTION, ["-DFLASH_VERSION=1"], "tensor cores, plain smem rows, one stage"),
    "v2": (SOLUTION, ["-DFLASH_VERSION=2"], "+ XOR swizzle"),
    "v3": (SOLUTION, ["-DFLASH_VERSION=3"], "+ cp.async double buffering"),
    "v4": (SOLUTION, ["-DFLASH_VERSION=4"], "+ causal blocks heaviest first"),
    "v4-d128-bn32": (SOLUTION, ["-DFLASH_D128_BLOCK_N=32"], "D=128 tiles 128 x 32"),
    "v4-d128-bm64": (SOLUTION, ["-DFLASH_D128_BLOCK_M=64"], "D=128 tiles 64 x 64"),
    "v4-d64-bn128": (SOLUTION, ["-DFLASH_D64_BLOCK_N=128"], "D=64 tiles 128 x 128"),
    "v4-d64-bm64": (SOLUTION, ["-DFLASH_D64_BLOCK_M=64"], "D=64 tiles 64 x 64"),
}
# The wrong kernels, made from the solution by scripts/level3_wrong_kernels.py and
# written under build/ (each file's header says what is wrong).
WRONG_KERNELS = runpy.run_path(str(ROOT / "scripts/level3_wrong_kernels.py"))
WRONG = list(WRONG_KERNELS["WRONG"])
WRONG_DIR = WRONG_KERNELS["write_all"]()

REL_TOL = {"float16": 2e-3, "bfloat16": 1.6e-2}  # ||out - ref|| / ||ref||, P rounded to the dtype
LSE_TOL = 1e-3  # lse comes from float32 scores


# ----------------------------------------------------------------------------- build
def nvcc_command(source: Path, flags: list[str], target: Path) -> list[str]:
    return ["nvcc", "-std=c++17", "-O3", "-shared", "-Xcompiler", "-fPIC", "-arch=sm_90",
            f"-I{ROOT / 'kernels/include'}", f'-DFLASH_SOURCE="{source}"', *flags, str(SHIM), "-o", str(target)]


def build(names: list[str], build_dir: Path, rebuild: bool) -> dict[str, Path]:
    """Compile (in parallel) the variants whose library is missing, or all of them with `rebuild`."""
    build_dir.mkdir(parents=True, exist_ok=True)
    jobs = {}
    for name in names:
        source, flags, _ = VARIANTS[name] if name in VARIANTS else (WRONG_DIR / f"{name}.cu", [], "")
        target = build_dir / f"lib_{name}.so"
        if rebuild or not target.exists():
            jobs[name] = nvcc_command(source, flags, target)

    def run(item):
        name, cmd = item
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        return name, done.returncode, done.stderr

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        for name, code, err in pool.map(run, jobs.items()):
            print(f"built {name}: {'ok' if code == 0 else 'FAILED'}")
            if code != 0:
                sys.exit(f"nvcc failed for {name}:\n{err}")
    return {name: build_dir / f"lib_{name}.so" for name in names}


# ----------------------------------------------------------------------------- calling
class Kernel:
    """One built variant: kernel(q, k, v, causal, scale) -> (out, lse), as flash_attn_cuda."""

    def __init__(self, path: Path):
        self.lib = ctypes.CDLL(str(path))
        self.fn = self.lib.flash_fwd_c
        self.fn.restype = ctypes.c_char_p
        self.fn.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_int64),
                            ctypes.POINTER(ctypes.c_int64), ctypes.POINTER(ctypes.c_int), ctypes.c_int,
                            ctypes.c_int, ctypes.c_float, ctypes.c_void_p]

    def __call__(self, q, k, v, causal=False, softmax_scale=None, poison=True):
        """`poison`: out and lse start as NaN, so an unwritten element shows (not when timing)."""
        import torch

        b, hq, n_q, d = q.shape
        out = torch.empty((b, hq, n_q, d), dtype=q.dtype, device=q.device)
        lse = torch.empty((b, hq, n_q), dtype=torch.float32, device=q.device)
        if poison:
            out.fill_(float("nan"))
            lse.fill_(float("nan"))
        tensors = (q, k, v, out, lse)
        data = (ctypes.c_void_p * 5)(*[t.data_ptr() for t in tensors])
        shapes = (ctypes.c_int64 * 20)(*[s for t in tensors for s in (list(t.shape) + [1])[:4]])
        strides = (ctypes.c_int64 * 20)(*[s for t in tensors for s in (list(t.stride()) + [1])[:4]])
        ndims = (ctypes.c_int * 5)(*[t.dim() for t in tensors])
        dtype = {torch.float16: 0, torch.bfloat16: 1}[q.dtype]
        scale = 1.0 / math.sqrt(d) if softmax_scale is None else softmax_scale
        stream = torch.cuda.current_stream().cuda_stream
        err = self.fn(data, shapes, strides, ndims, dtype, int(causal), scale, ctypes.c_void_p(stream))
        if err:
            raise RuntimeError(err.decode())
        return out, lse


# ----------------------------------------------------------------------------- correctness
def attention_f64(q, k, v, causal, scale):
    """Float64 attention: (out, lse); rows that see no key give out = 0, lse = -inf."""
    q, k, v = q.double(), k.double(), v.double()
    group = q.shape[1] // k.shape[1]
    k = k.repeat_interleave(group, dim=1)
    v = v.repeat_interleave(group, dim=1)
    s = scale * q @ k.transpose(-1, -2)
    n_q, n_k = q.shape[2], k.shape[2]
    if causal:
        import torch

        i = torch.arange(n_q, device=q.device)[:, None]
        j = torch.arange(n_k, device=q.device)[None, :]
        s = s.masked_fill(j > i + n_k - n_q, float("-inf"))
    lse = s.logsumexp(dim=-1)
    p = (s - lse[..., None]).exp().nan_to_num(nan=0.0)
    return p @ v, lse


def make_inputs(b, hq, hkv, n_q, n_k, d, dtype, layout, v_shift, gen):
    """q, k, v as [B, H, N, D] views laid out as `layout` says (values set before the view
    is taken: arithmetic or .to() on a non-dense view returns a contiguous tensor)."""
    import torch

    def one(h, n, scale=1.0, shift=0.0):
        if layout == "bnhd":  # a [B, N, H, D] tensor viewed as [B, H, N, D]
            t = torch.randn(b, n, h, d, generator=gen, device="cuda")
            return (t * scale + shift).to(dtype).transpose(1, 2)
        if layout == "wide":  # rows of a wider tensor: stride[2] = 2 * D
            t = torch.randn(b, h, n, 2 * d, generator=gen, device="cuda")
            return (t * scale + shift).to(dtype)[..., d:]
        return (torch.randn(b, h, n, d, generator=gen, device="cuda") * scale + shift).to(dtype)

    # q * 2: some rows with large logits; v + v_shift: a large |out| (fp16 accumulation shows)
    return one(hq, n_q, scale=2.0), one(hkv, n_k), one(hkv, n_k, shift=v_shift)


def check_cases():
    """(B, Hq, Hkv, Nq, Nk, D, causal, dtype, layout, scale, v_shift)."""
    import torch

    f16, bf16 = torch.float16, torch.bfloat16
    cases = []
    for d in (64, 128):
        cases += [
            (1, 1, 1, 1, 1, d, False, f16, "bhnd", None, 0.0),
            (1, 2, 1, 1, 63, d, True, bf16, "bhnd", None, 0.0),       # one query sees every key
            (2, 2, 2, 63, 1, d, False, f16, "bnhd", None, 0.0),
            (1, 2, 2, 65, 65, d, True, f16, "bnhd", None, 0.0),
            (2, 4, 2, 129, 63, d, True, bf16, "bhnd", None, 0.0),     # Nq > Nk: 66 empty rows
            (1, 4, 1, 63, 129, d, True, f16, "bhnd", None, 0.0),      # Nq < Nk
            (1, 4, 1, 129, 1000, d, False, bf16, "wide", 0.3, 0.0),
            (1, 2, 2, 1000, 1000, d, True, f16, "bhnd", -0.2, 0.0),   # negative scale
            (2, 8, 2, 1000, 129, d, True, f16, "bnhd", None, 0.0),
            (1, 4, 4, 1000, 4096, d, False, f16, "bhnd", None, 4.0),  # long rows, large out
            (1, 4, 2, 256, 16384, d, False, f16, "bhnd", None, 4.0),
            (1, 2, 1, 4096, 4096, d, True, bf16, "bnhd", None, 0.0),
        ]
    return cases


def check(kernel, cases, repeats=1):
    """Print one line per case; return the number of failing cases."""
    import torch

    gen = torch.Generator(device="cuda").manual_seed(0)
    failures = 0
    print(f"{'B':>2} {'Hq':>3} {'Hkv':>3} {'Nq':>5} {'Nk':>5} {'D':>4} {'causal':>6} {'dtype':>8} {'layout':>6} "
          f"{'vsh':>3} {'rel err':>9} {'max err':>9} {'lse err':>9} {'bad rows':>14}  result")
    for b, hq, hkv, n_q, n_k, d, causal, dtype, layout, scale, v_shift in cases:
        q, k, v = make_inputs(b, hq, hkv, n_q, n_k, d, dtype, layout, v_shift, gen)
        ref_out, ref_lse = attention_f64(q, k, v, causal, 1.0 / math.sqrt(d) if scale is None else scale)
        problems, moving = [], 0.0
        try:
            out, lse = kernel(q, k, v, causal=causal, softmax_scale=scale)
            for _ in range(repeats - 1):  # a moving error on the same inputs is a race
                out2, _ = kernel(q, k, v, causal=causal, softmax_scale=scale)
                moving = max(moving, (out2.float() - out.float()).abs().nan_to_num(nan=float("inf")).max().item())
            torch.cuda.synchronize()
        except RuntimeError as e:
            failures += 1
            print(f"{b:>2} {hq:>3} {hkv:>3} {n_q:>5} {n_k:>5} {d:>4} {causal!s:>6} {str(dtype)[6:]:>8} "
                  f"{layout:>6} {v_shift:>3.0f}  raised: {str(e).splitlines()[0][:100]}")
            continue
        if out.isnan().any() or lse.isnan().any():
            problems.append("NaN")
        if not torch.equal(torch.isinf(lse), torch.isinf(ref_lse)):
            problems.append("-inf rows differ")
        err = (out.double() - ref_out).abs().nan_to_num(nan=float("inf"))
        rel = ((out.double() - ref_out).norm() / ref_out.norm().clamp_min(1e-30)).item()
        finite = torch.isfinite(ref_lse)
        lse_err = (lse.double() - ref_lse)[finite].abs().nan_to_num(nan=float("inf")).max().item() if finite.any() else 0.0
        row_bad = err.amax(dim=-1) > 2e-3 + 3 * REL_TOL[str(dtype)[6:]] * ref_out.abs().amax(dim=-1)
        rows = torch.nonzero(row_bad.any(dim=(0, 1))).flatten()
        bad = f"{row_bad.sum().item()}/{row_bad.numel()}" + (f" {rows[0].item()}-{rows[-1].item()}" if len(rows) else "")
        if not rel <= REL_TOL[str(dtype)[6:]]:
            problems.append(f"rel err > {REL_TOL[str(dtype)[6:]]}")
        if not lse_err <= LSE_TOL:
            problems.append(f"lse err > {LSE_TOL}")
        if moving > 0:
            problems.append(f"moves by {moving:.2e} between runs")
        failures += bool(problems)
        print(f"{b:>2} {hq:>3} {hkv:>3} {n_q:>5} {n_k:>5} {d:>4} {causal!s:>6} {str(dtype)[6:]:>8} {layout:>6} "
              f"{v_shift:>3.0f} {rel:>9.2e} {err.max().item():>9.2e} {lse_err:>9.2e} {bad:>14}  "
              f"{'; '.join(problems) or 'ok'}")
    return failures


# ----------------------------------------------------------------------------- timing
def tflops(b, h, n, d, causal, ms):
    return 4 * b * h * n * n * d / (2 if causal else 1) / (ms * 1e-3) / 1e12


def providers(kernels):
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.nn.functional import scaled_dot_product_attention

    def sdpa(backend):
        def run(q, k, v, causal):
            with sdpa_kernel(backend):
                return scaled_dot_product_attention(q, k, v, is_causal=causal)
        return run

    found = {name: (lambda q, k, v, causal, kern=kern: kern(q, k, v, causal=causal, poison=False))
             for name, kern in kernels.items()}
    found["sdpa flash"] = sdpa(SDPBackend.FLASH_ATTENTION)
    found["sdpa cudnn"] = sdpa(SDPBackend.CUDNN_ATTENTION)
    try:
        import solutions.level2.flash_v2_triton as l2

        found["triton L2"] = lambda q, k, v, causal: l2.flash_attn_v2_triton(q, k, v, causal=causal)
    except ImportError as e:
        print("no Level 2 Triton reference:", e)
    try:  # the reference through the course's own build path (kernels/builder.py + pybind11)
        import kernels

        course_fn = kernels.load(SOLUTION).flash_attn_cuda
        found["course build"] = lambda q, k, v, causal: course_fn(q, k, v, causal=causal)
    except Exception as e:  # noqa: BLE001 - report and time the rest
        print("no course build:", type(e).__name__, str(e)[:200])
    return found


def time_table(found, shapes, b=4, h=16):
    import torch
    import triton

    names = list(found)
    print(f"TFLOP/s (do_bench median), B={b} H={h} unless noted; FLOP = 4*B*H*N^2*D, /2 causal")
    print(f"{'dtype':>8} {'D':>4} {'causal':>6} {'N':>6} " + " ".join(f"{n:>13}" for n in names))
    for dtype, d, causal, n, bb in shapes:
        gen = torch.Generator(device="cuda").manual_seed(0)
        q, k, v = (torch.randn(bb, h, n, d, device="cuda", dtype=dtype, generator=gen) for _ in range(3))
        cells = []
        for name in names:
            try:
                fn = found[name]
                ms = triton.testing.do_bench(lambda fn=fn, q=q, k=k, v=v, c=causal: fn(q, k, v, c), warmup=25,
                                             rep=150, return_mode="median")
                cells.append(f"{tflops(bb, h, n, d, causal, ms):>13.0f}")
            except Exception as e:  # noqa: BLE001 - a back end that refuses the shape
                cells.append(f"{'-':>13}")
                print(f"  {name}: {type(e).__name__}: {str(e).splitlines()[0][:80]}", file=sys.stderr)
        print(f"{str(dtype)[6:]:>8} {d:>4} {causal!s:>6} {n:>6} " + " ".join(cells), flush=True)


# ----------------------------------------------------------------------------- main
def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build-dir", type=Path, default=ROOT / "build/level3")
    parser.add_argument("--build-only", action="store_true", help="compile every variant and stop")
    parser.add_argument("--rebuild", action="store_true", help="compile even where a library exists")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), help="solution variants to check and time")
    parser.add_argument("--no-wrong", action="store_true", help="skip the wrong kernels")
    parser.add_argument("--no-time", action="store_true")
    parser.add_argument("--quick", action="store_true", help="time only B=4 H=16 N=4096 fp16, no N sweep")
    parser.add_argument("--sanitize", metavar="VARIANT", help="run one small ragged causal case of VARIANT and exit")
    args = parser.parse_args()

    wrong = [] if args.no_wrong else WRONG
    names = [args.sanitize] if args.sanitize else args.variants + wrong
    libs = build(names, args.build_dir, args.rebuild)
    if args.build_only:
        return

    import torch

    print(torch.cuda.get_device_name(), "torch", torch.__version__, flush=True)
    if args.sanitize:
        kernel = Kernel(libs[args.sanitize])
        f16 = torch.float16
        cases = [(1, 2, 1, 77, 133, d, True, f16, "bhnd", None, 0.0) for d in (64, 128)]
        cases.append((1, 2, 2, 150, 70, 128, True, torch.bfloat16, "bnhd", None, 0.0))  # empty rows
        sys.exit(check(kernel, cases) != 0)

    kernels = {name: Kernel(libs[name]) for name in args.variants}
    total = 0
    for name in args.variants:
        print(f"\n=== check {name}: {VARIANTS[name][2]}", flush=True)
        bad = check(kernels[name], check_cases(), repeats=2 if name == REFERENCE else 1)
        total += bad
        print(f"{name}: {bad} failing case(s)")
    for name in wrong:
        print(f"\n=== wrong kernel {name} (must fail)", flush=True)
        bad = check(Kernel(libs[name]), check_cases(), repeats=3)
        print(f"{name}: {bad} failing case(s){'  <-- NOT CAUGHT' if bad == 0 else ''}")

    if not args.no_time:
        f16, bf16 = torch.float16, torch.bfloat16
        print(flush=True)
        shapes = [(f16, d, c, 4096, 4) for d in (64, 128) for c in (False, True)]
        time_table(providers(kernels), shapes)
        if args.quick:
            sys.exit(1 if total else 0)
        print(f"\nthe reference ({REFERENCE}) only, B * N = 16384, fp16 and bf16:")
        ref = {REFERENCE: kernels[REFERENCE]}
        shapes = [(f16, d, c, n, 16384 // n) for d in (64, 128) for c in (False, True) for n in (1024, 4096, 16384)]
        shapes += [(bf16, d, c, 4096, 4) for d in (64, 128) for c in (False, True)]
        time_table(providers(ref), shapes)
    sys.exit(1 if total else 0)


if __name__ == "__main__":
    main()
