"""Check and time the reference Triton MLA decode (level4.mla_decode).

1. Correctness: the kernel against a float64 paged attention on many shapes (block
   sizes 16..128 incl. 48, d/dv 576/512, 64/64, 48/32, 40/40, h_kv 1 and 2, s_q 1..4,
   zero and varied lengths, causal both, fp16 and bf16, splits from 1 to more than
   there are pages), built as FlashMLA's tests build them: shuffled block tables, NaN
   in the cache slots past each length and in unused pages, random int32 (even
   negative or out of range) in the table entries past the used pages. Outputs are
   checked for NaN, for the -inf pattern of lse, and the inputs for being untouched.
   Both load paths (TMA descriptors and pointers) are checked.
2. Speed (CUDA only): FlashMLA's benchmark shapes (bf16, causal, b=128, mean length
   4096 fixed or varied, d=576, dv=512, block 64, h_kv=1), every h_q in
   {16, 32, 64, 128} and s_q in {1, 2}, with FlashMLA's formulas:
   bytes = KV read once + q + out, FLOPs = 2 * s_q * h_q * (d + dv) per cached token.
   Then a sweep of launch configs and split counts on the headline shapes.
   triton.testing.do_bench medians.

    PYTHONPATH=. python benchmarks/mla_decode.py                        # check + table
    PYTHONPATH=. python benchmarks/mla_decode.py --sweep --budget 250   # + configs
    PYTHONPATH=. python benchmarks/mla_decode.py --quick                    # DeepSeek checks + table
    PYTHONPATH=. python benchmarks/mla_decode.py --table-only               # timings alone
    PYTHONPATH=. python benchmarks/mla_decode.py --check-only --interpret   # CPU box
"""

import argparse
import os
import sys
import time

# TRITON_INTERPRET must be set before triton is imported, so parse the flags first.
_parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
_parser.add_argument("--interpret", action="store_true", help="run under Triton's interpreter on CPU tensors")
_parser.add_argument("--check-only", action="store_true", help="skip the timings")
_parser.add_argument("--table-only", action="store_true", help="skip the correctness checks")
_parser.add_argument("--quick", action="store_true", help="check DeepSeek's shapes only (default launch rule)")
_parser.add_argument("--sweep", action="store_true", help="also time launch configs and split counts")
_parser.add_argument("--budget", type=float, default=1e9, help="stop timing after this many seconds")
_parser.add_argument("--log", default=None, help="also append every line to this file")
ARGS = _parser.parse_args()
if ARGS.interpret:
    os.environ["TRITON_INTERPRET"] = "1"

import itertools  # noqa: E402
from dataclasses import replace  # noqa: E402

import torch  # noqa: E402
import triton  # noqa: E402

import solutions.level4.mla_decode as mla  # noqa: E402

DEVICE = "cpu" if ARGS.interpret else "cuda"
REL_TOL = {torch.float16: 2e-3, torch.bfloat16: 1.6e-2}  # ||out - ref|| / ||ref||, P rounded to the dtype
LSE_TOL = 1e-4  # relative (to max(1, |lse|)): lse comes from float32 scores
START = time.time()


def say(line: str = "", quiet: bool = False) -> None:
    """Print ``line`` (unless ``quiet``: then only the log file gets it)."""
    if not quiet:
        print(line, flush=True)
    if ARGS.log:
        with open(ARGS.log, "a") as f:
            f.write(line + "\n")


def paged_inputs(lengths, s_q, heads_q, heads_kv, d, block_size, dtype, gen, spare_pages=2, q_std=1.0):
    """q, k_cache, block_table, cache_seqlens as FlashMLA's tests build them."""
    batch = len(lengths)
    lens = torch.tensor(lengths, dtype=torch.int64)
    used = (lens + block_size - 1) // block_size
    max_blocks = int(used.max()) + 1 if batch else 1
    num_pages = batch * max_blocks + spare_pages
    # logical cache [b, max_blocks * block_size, h_kv, d]; NaN past each length
    logical = torch.randn(batch, max_blocks * block_size, heads_kv, d, generator=gen, device="cpu")
    pos = torch.arange(max_blocks * block_size)
    logical[pos[None, :] >= lens[:, None]] = float("nan")
    perm = torch.randperm(num_pages, generator=gen)
    table = perm[: batch * max_blocks].view(batch, max_blocks)
    k_cache = torch.full((num_pages, block_size, heads_kv, d), float("nan"))
    k_cache[table.flatten()] = logical.view(batch * max_blocks, block_size, heads_kv, d)
    garbage = torch.randint(-2**31, 2**31 - 1, (batch, max_blocks), generator=gen, dtype=torch.int64)
    table = torch.where(torch.arange(max_blocks)[None, :] < used[:, None], table, garbage)
    q = torch.randn(batch, s_q, heads_q, d, generator=gen) * q_std
    return (q.to(dtype).to(DEVICE), k_cache.to(dtype).to(DEVICE), table.to(torch.int32).to(DEVICE),
            lens.to(torch.int32).to(DEVICE))


def paged_attention_f64(q, k_cache, block_table, cache_seqlens, dv, scale, causal):
    """Float64 (out, lse) gathered sequence by sequence; an empty row gives 0 and -inf."""
    batch, s_q, heads_q, d = q.shape
    block_size, heads_kv = k_cache.shape[1], k_cache.shape[2]
    out = torch.zeros(batch, s_q, heads_q, dv, dtype=torch.float64, device=q.device)
    lse = torch.full((batch, heads_q, s_q), float("-inf"), dtype=torch.float64, device=q.device)
    for i in range(batch):
        n = int(cache_seqlens[i])
        if n == 0:
            continue
        pages = block_table[i, : -(-n // block_size)].long()
        k = k_cache[pages].reshape(-1, heads_kv, d)[:n].double().repeat_interleave(heads_q // heads_kv, dim=1)
        s = torch.einsum("thd,jhd->htj", q[i].double(), k) * scale
        if causal:
            t = torch.arange(s_q, device=q.device)[:, None]
            j = torch.arange(n, device=q.device)[None, :]
            s = s.masked_fill(j >= n - (s_q - 1 - t), float("-inf"))
        row_lse = torch.logsumexp(s, dim=-1)
        p = torch.exp(s - row_lse[..., None]).nan_to_num(nan=0.0)
        out[i] = torch.einsum("htj,jhd->thd", p, k[..., :dv])
        lse[i] = row_lse
    return out, lse


def check_case(lengths, s_q, heads_q, heads_kv, d, dv, block_size, dtype, causal, num_splits, tma, gen,
               q_std=1.0):
    q, k_cache, table, lens = paged_inputs(lengths, s_q, heads_q, heads_kv, d, block_size, dtype, gen, q_std=q_std)
    copies = [t.clone() for t in (q, k_cache, table, lens)]
    interpret = DEVICE == "cpu"
    scale = d ** -0.5
    if num_splits is None and tma is not False:  # the public entry point: its own config and split count
        out, lse = mla.mla_decode(q, k_cache, table, lens, dv, causal=causal)
    else:  # the default config (tma=None) or one of its two load paths
        config = mla._pick_config(heads_q // heads_kv * s_q, d, dv, block_size, q.device, interpret)
        config = config if tma is None else replace(config, tma=tma)
        out, lse = mla._launch(q, k_cache, table, lens, dv, scale, causal and s_q > 1, num_splits or 2, config,
                               interpret)
    ref_out, ref_lse = paged_attention_f64(q, k_cache, table, lens, dv, scale, causal and s_q > 1)
    untouched = all(torch.equal(a.nan_to_num(7.0), b.nan_to_num(7.0)) if a.is_floating_point() else torch.equal(a, b)
                    for a, b in zip((q, k_cache, table, lens), copies))
    rel = ((out.double() - ref_out).norm() / ref_out.norm().clamp_min(1e-30)).item()
    finite = torch.isfinite(ref_lse)
    lse_err = ((lse.double()[finite] - ref_lse[finite]).abs() / ref_lse[finite].abs().clamp_min(1.0)).max().item() \
        if finite.any() else 0.0
    ok = (untouched and not out.isnan().any() and not lse.isnan().any()
          and torch.equal(torch.isinf(lse), torch.isinf(ref_lse)) and rel <= REL_TOL[dtype] and lse_err <= LSE_TOL)
    say(quiet=ok and DEVICE == "cuda", line=f"{'ok  ' if ok else 'FAIL'} {str(dtype).removeprefix('torch.'):8} L={str(lengths)[:28]:28} s_q={s_q} "
        f"h_q={heads_q:3} h_kv={heads_kv} d={d}/{dv} bs={block_size:3} causal={causal:d} "
        f"splits={num_splits} tma={'default' if tma is None else int(tma)}: rel {rel:.1e} lse {lse_err:.1e}{'' if untouched else ' INPUT MODIFIED'}")
    return ok


QUICK_CASES = [  # DeepSeek's dims through the default launch rule: lengths, s_q, h_q, causal, num_splits
    ([4096, 1, 3000, 0, 777, 64, 65, 2049], 1, 16, True, None),
    ([4096, 1, 3000, 0, 777, 64, 65, 2049], 2, 128, True, None),
    ([1000, 2500, 17, 4096], 2, 16, True, None),
    ([1000, 2500, 17, 4096], 1, 32, False, None),
    ([1000, 2500, 17, 4096], 2, 32, True, None),
    ([1000, 2500, 17, 4096], 1, 64, True, None),
    ([1000, 2500, 17, 4096], 2, 64, True, None),
    ([1000, 2500, 17, 4096], 1, 128, True, None),
    ([300, 333, 0], 2, 16, True, 3),
    ([300, 333, 0], 2, 128, True, 2),
]


def quick_correctness() -> bool:
    """DeepSeek's shapes (d=576, dv=512, block 64, bf16) through the kernels the timings use."""
    gen = torch.Generator().manual_seed(0)
    ok = True
    for lengths, s_q, heads_q, causal, splits in QUICK_CASES:
        ok &= check_case(lengths, s_q, heads_q, 1, 576, 512, 64, torch.bfloat16, causal, splits, None, gen)
    ok &= check_case([300, 5], 2, 16, 1, 576, 512, 64, torch.bfloat16, True, 3, None, gen, q_std=30 * 24.0)
    return ok


def correctness() -> bool:
    gen = torch.Generator().manual_seed(0)
    big = DEVICE == "cuda"
    cases = [  # lengths, s_q, h_q, h_kv, d, dv, block_size, causal, num_splits
        ([0, 37, 100], 1, 4, 1, 64, 64, 16, False, None),
        ([5, 1, 150], 2, 4, 2, 48, 32, 48, True, 2),
        ([3, 70], 4, 8, 1, 64, 64, 32, True, 3),
        ([130, 64], 2, 16, 1, 576, 512, 64, True, None),
        ([0, 0], 1, 2, 1, 64, 48, 16, False, 2),
        ([17, 2], 3, 3, 1, 40, 40, 16, True, 5),
        ([200, 1, 33], 1, 16, 1, 576, 512, 128, False, 7),
        ([96, 0, 95], 2, 6, 2, 64, 64, 96, True, None),
    ]
    if big:
        cases += [
            ([4096, 1, 3000, 0, 777, 64, 65, 2049], 1, 16, 1, 576, 512, 64, True, None),
            ([4096, 1, 3000, 0, 777, 64, 65, 2049], 2, 128, 1, 576, 512, 64, True, None),
            ([4096, 1, 3000, 0, 777, 64, 65, 2049], 2, 128, 1, 576, 512, 64, True, 1),
            ([1000, 2500, 17], 1, 32, 1, 576, 512, 64, True, 4),
            ([1000, 2500, 17], 2, 64, 1, 576, 512, 64, True, None),
            ([1000, 2500, 17], 1, 128, 1, 576, 512, 64, False, None),
            ([513, 1024, 31], 4, 8, 2, 128, 128, 32, True, None),
            ([300, 333], 2, 16, 1, 576, 512, 16, True, None),
            ([300, 333], 2, 16, 1, 576, 512, 80, True, 3),
        ]
    ok = True
    small, large = cases[:8], cases[8:]
    for dtype, tma in itertools.product((torch.bfloat16, torch.float16), (True, False)):
        # on the GPU every new shape compiles a kernel: the small shapes once per dtype, the large ones in bf16
        chosen = small + large if dtype == torch.bfloat16 else small
        if big and not tma:
            chosen = [c for c in chosen if c[4] == 576] if dtype == torch.bfloat16 else []
        for lengths, s_q, hq, hkv, d, dv, bs, causal, splits in chosen:
            ok &= check_case(lengths, s_q, hq, hkv, d, dv, bs, dtype, causal, splits, tma, gen)
    # large logits: std ~30 after scaling
    ok &= check_case([300, 5], 2, 16, 1, 576, 512, 64, torch.bfloat16, True, 3, True, gen, q_std=30 * 24.0)
    ok &= check_case([300, 5], 2, 16, 1, 576, 512, 64, torch.float16, False, 3, False, gen, q_std=30 * 24.0)
    return ok


# ----------------------------------------------------------------------------- speed

def bench_inputs(batch, s_q, heads_q, mean_len, varied, d=576, block_size=64, seed=0):
    """FlashMLA's benchmark: bf16, h_kv = 1, lengths mean_len (or ~N(mean, mean/2)
    clipped at s_q), a shuffled block table, NaN past every length."""
    gen = torch.Generator(device="cuda").manual_seed(seed)
    lens = torch.full((batch,), mean_len, dtype=torch.float64, device="cuda")
    if varied:
        lens = torch.normal(lens, mean_len / 2, generator=gen).clamp_min(s_q)
    lens = lens.long()
    max_blocks = triton.cdiv(int(lens.max()), block_size)
    num_pages = batch * max_blocks
    table = torch.randperm(num_pages, generator=gen, device="cuda").view(batch, max_blocks).int()
    k_cache = torch.randn(num_pages, block_size, 1, d, generator=gen, device="cuda", dtype=torch.bfloat16)
    slot = torch.arange(max_blocks * block_size, device="cuda").view(1, max_blocks, block_size)
    past = slot >= lens.view(batch, 1, 1)  # [b, blocks, block_size]
    flat_past = torch.zeros(num_pages, block_size, dtype=torch.bool, device="cuda")
    flat_past[table.long().flatten()] = past.view(num_pages, block_size)
    k_cache[flat_past] = float("nan")
    q = torch.randn(batch, s_q, heads_q, d, generator=gen, device="cuda", dtype=torch.bfloat16)
    return q, k_cache, table, lens.int()


def flashmla_work(lens, s_q, heads_q, d=576, dv=512, elem=2):
    total = int(lens.long().sum())
    batch = lens.shape[0]
    flops = 2.0 * s_q * heads_q * (d + dv) * total
    nbytes = (total * d + batch * s_q * heads_q * d + batch * s_q * heads_q * dv) * elem
    return flops, nbytes


def timed(fn) -> float:
    return triton.testing.do_bench(fn, warmup=25, rep=100, return_mode="median")


def copy_gbps() -> float:
    big = torch.empty(1 << 30, device="cuda", dtype=torch.uint8)
    ms = timed(lambda: big.clone())
    return 2 * big.numel() / ms / 1e6


def main_table(reference=None):
    say(f"\n{'h_q':>4} {'s_q':>3} {'lengths':>7} {'splits':>6} {'ms':>8} {'GB/s':>7} {'TFLOP/s':>8}"
        + ("   naive ms" if reference else ""))
    rows = []
    for varied in (False, True):
        for heads_q in (16, 32, 64, 128):
            for s_q in (1, 2):
                if time.time() - START > ARGS.budget:
                    say("budget spent: table cut short")
                    return rows
                q, k_cache, table, lens = bench_inputs(128, s_q, heads_q, 4096, varied)
                rows_per_kv = heads_q * s_q
                config = mla._pick_config(rows_per_kv, 576, 512, 64, q.device, False)
                programs = 128 * triton.cdiv(rows_per_kv, config.block_m)
                splits = mla._pick_num_splits(programs, table.shape[1], mla._num_sms(q.device.index), config)
                ms = timed(lambda: mla.mla_decode(q, k_cache, table, lens, 512, causal=True))
                flops, nbytes = flashmla_work(lens, s_q, heads_q)
                naive = ""
                if reference is not None and heads_q in (16, 128) and s_q == 1 + (heads_q == 128) and not varied:
                    naive = f"   {timed(lambda: reference(q, k_cache, table, lens, 512, causal=True)):9.2f}"
                say(f"{heads_q:4} {s_q:3} {'varied' if varied else 'fixed':>7} {splits:6} {ms:8.3f} "
                    f"{nbytes / ms / 1e6:7.0f} {flops / ms / 1e9:8.1f}{naive}")
                rows.append((heads_q, s_q, varied, ms))
    return rows


def sweep():
    """Launch configs x split counts on the headline shapes."""
    sms = mla._num_sms(torch.cuda.current_device())
    shapes = [(16, 1, False), (128, 2, False), (16, 1, True), (64, 1, False), (32, 1, False)]
    configs = {
        16: [(16, 64, 4, 2), (16, 32, 4, 3), (16, 32, 4, 4), (16, 64, 4, 3)],
        32: [(32, 64, 4, 2), (32, 32, 4, 3)],
        64: [(64, 64, 8, 2), (64, 32, 8, 3), (64, 64, 8, 1)],
    }
    say(f"\nsweep ({sms} SMs): h_q s_q lengths | block_m block_n warps stages tma | splits: ms (TFLOP/s, GB/s)")
    for heads_q, s_q, varied in shapes:
        q, k_cache, table, lens = bench_inputs(128, s_q, heads_q, 4096, varied)
        flops, nbytes = flashmla_work(lens, s_q, heads_q)
        rows = heads_q * s_q
        block_m = min(max(mla._next_pow2(rows), 16), 64)
        for (bm, bn, warps, stages), tma in itertools.product(configs[block_m], (True, False)):
            if time.time() - START > ARGS.budget:
                say("budget spent: sweep cut short")
                return
            default = mla._pick_config(rows, 576, 512, 64, q.device, False)
            config = replace(default, block_m=bm, block_n=bn, num_warps=warps, num_stages=stages, tma=tma)
            programs = 128 * triton.cdiv(rows, bm)
            cells = []
            for splits in sorted({1, 2, 3, 4, 6, mla._pick_num_splits(programs, table.shape[1], sms, config)}):
                if programs * splits > 8 * sms and splits > 1:
                    continue
                try:
                    ms = timed(lambda: mla._launch(q, k_cache, table, lens, 512, 576 ** -0.5, True, splits,
                                                   config, False))
                    cells.append(f"{splits}: {ms:.3f} ({flops / ms / 1e9:.0f}, {nbytes / ms / 1e6:.0f})")
                except Exception as err:  # noqa: BLE001 - a config that does not fit is reported, not fatal
                    cells.append(f"{splits}: {type(err).__name__}")
                    break
            say(f"{heads_q:3} {s_q} {'varied' if varied else 'fixed':6} | {bm:3} {bn:3} {warps} {stages} {tma:d} | "
                + "  ".join(cells))


def main() -> int:
    if DEVICE == "cuda":
        say(f"{torch.cuda.get_device_name()}, torch {torch.__version__}, triton {triton.__version__}")
    ok = True
    if not ARGS.table_only:
        ok = quick_correctness() if ARGS.quick else correctness()
        say(f"correctness: {'all passed' if ok else 'FAILED'} ({time.time() - START:.0f} s; each case in the log)")
    if ARGS.check_only or DEVICE == "cpu":
        return 0 if ok else 1
    say(f"device copy: {copy_gbps():.0f} GB/s (read + write of 1 GiB)")
    reference = None
    try:
        from solutions.level4.paged_kv import mla_decode_reference as reference
    except ImportError:
        say("solutions/level4/paged_kv.py not found: no naive reference timings")
    main_table(reference)
    if ARGS.sweep:
        sweep()
    say(f"done in {time.time() - START:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
