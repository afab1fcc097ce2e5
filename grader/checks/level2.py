"""Level 2 checks: tiled FlashAttention v1 and v2, the Triton kernel, the HBM-traffic
model, and the bonus backward pass.

Structural rules (no Nq x Nk intermediate, the loop order, causal blocks skipped, a
Triton kernel of the student's own ran, no copy of the inputs) read the op
recorder, which runs in the student's process; each is checked only on calls whose
results matched the oracle, so none pays without the work.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import math
from pathlib import Path

import torch
from hypothesis import strategies as st

from grader import oracle
from grader.checks.attention import Rule, attention_judge, modified_outcome, size_limit, size_rule, unpack_pair
from grader.checks.bad_input import BadCall, rejects_bad_input
from grader.checks.base import (Context, Outcome, call_failure, check, outcome_result, run_cases, run_examples,
                                run_examples_then_batteries)
from grader.child.recorder import MATRIX_PRODUCTS, SDPA, SOFTMAX_FAMILY
from grader.diagnose import KERNEL_BLOCKS
from grader.inputs import (DTYPES, AttentionBounds, AttentionCase, attention_batteries, attention_cases,
                           structural_attention_cases)
from grader.isolation import CallResult
from grader.results import FAILED, PASSED
from grader.timing import timing_check
from grader.tolerance import compare, naive_attention_in_dtype

TILED_BOUNDS = AttentionBounds(head_dims=(16, 24, 40), max_len=200,
                               block_sizes=((16, 16), (32, 16), (16, 32), (64, 64)))
TRITON_CPU_BOUNDS = AttentionBounds(dtypes=("float16", "bfloat16"), head_dims=(16, 32, 64, 128),
                                    equal_head_dims=True, max_len=160, max_batch_heads=4)
TRITON_GPU_BOUNDS = dataclasses.replace(TRITON_CPU_BOUNDS, max_len=2200, max_batch_heads=8)

# The loop-order case: every size that can appear in a product is distinct (D = 16,
# Dv = 40, Q blocks of 48 rows and a ragged 5, K/V blocks of 32 keys and a ragged 7),
# so the shape of a product says what it is: a score tile Q_i K_jᵀ contracts D, and
# its two other sizes name its Q block and K/V block (ragged or full).
LOOP_ORDER_CASE = AttentionCase(batch=2, heads_q=2, heads_kv=1, n_q=4 * 48 + 5, n_k=5 * 32 + 7, head_dim=16,
                                head_dim_v=40, dtype="float32", causal=False, softmax_scale=None,
                                transposed=False, logit_scale=1.0, seed=2026, block_m=48, block_n=32)


def _tiled_correct(ctx: Context, fn: str):
    return run_examples_then_batteries(ctx, attention_cases(TILED_BOUNDS), attention_judge(ctx, fn),
                                       attention_batteries(TILED_BOUNDS))


# The memory case of no_full_matrix, measured from outside the student's process: at
# Nq = Nk = 8192 the float32 score matrix is 256 MiB and a float16 one 128 MiB, past
# glibc's 32 MiB mmap threshold, so either is fresh pages that show in the peak RSS.
# With 64 x 512 blocks a tiled pass adds about 5 MiB, and naive attention over chunks
# of 64 rows (a loop-order bug, not this rule's) about 20 MiB: the bound sits between.
MEMORY_CASE = AttentionCase(batch=1, heads_q=1, heads_kv=1, n_q=8192, n_k=8192, head_dim=16, head_dim_v=16,
                            dtype="float32", causal=True, softmax_scale=None, transposed=False, logit_scale=1.0,
                            seed=8192, block_m=64, block_n=512)
MEMORY_BOUND_BYTES = 64 << 20
MEMORY_ROWS = 40  # rows of the memory case compared with the oracle (the whole oracle would take seconds)


def _sampled_rows_outcome(ctx: Context, fn: str, case: AttentionCase, q, k, v, got) -> Outcome | None:
    """The returned (out, lse) on evenly spread rows against the oracle of those rows."""
    pair = unpack_pair(fn, got)
    if isinstance(pair, Outcome):
        return pair
    rows = torch.linspace(0, case.n_q - 1, MEMORY_ROWS).long()
    scale = 1.0 / math.sqrt(case.head_dim)
    visible = oracle.visible_keys(case.n_q, case.n_k, case.causal)[rows]
    q_rows = q[:, :, rows]
    expected = oracle.masked_attention(q_rows, k, v, scale, visible)
    baseline = naive_attention_in_dtype(q_rows, k, v, scale, visible)
    for name, got_t, want, base, dtype in (("out", pair[0], expected[0], baseline[0], DTYPES[case.dtype]),
                                           ("lse", pair[1], expected[1], baseline[1], torch.float32)):
        full = (case.batch, case.heads_q, case.n_q) + ((case.head_dim_v,) if name == "out" else ())
        if not isinstance(got_t, torch.Tensor) or tuple(got_t.shape) != full:
            return Outcome(FAILED, f"{fn} must return {name} of shape {list(full)}")
        mismatch = compare(name, got_t[:, :, rows], want, want_dtype=dtype, dtype=case.dtype, tol=ctx.tolerance,
                           baseline=base)
        if mismatch is not None:
            return Outcome(FAILED, f"on rows {rows.tolist()[:4]}...: {mismatch.message}",
                           measured=mismatch.measured, allowed=mismatch.allowed)
    return None


def memory_bound(ctx: Context, fn: str) -> tuple[Outcome | None, str]:
    """The no-Nq x Nk rule as the operating system sees it: the peak RSS the call
    added, read by the parent (numpy, threads or C code cannot hide from it). Runs on
    the CPU whatever the device (a GPU's memory is not in the RSS). Returns (failure,
    what was measured)."""
    case = MEMORY_CASE
    q, k, v = case.tensors()
    call = ctx.student.call(fn, (q, k, v), case.kwargs(), device="cpu", measure_memory=True)
    ctx.tick()
    failure = call_failure(call, fn) or _sampled_rows_outcome(ctx, fn, case, q, k, v, call.value)
    if failure is not None:
        failure.example = case.describe()
        return failure, ""
    matrix_mib = case.n_q * case.n_k * 4 / 2**20
    if call.peak_bytes is None:
        return None, "peak memory not measurable here (no /proc): the recorder's count stands alone"
    grown = call.peak_bytes / 2**20
    if call.peak_bytes > MEMORY_BOUND_BYTES:
        return Outcome(
            FAILED,
            f"{fn} grew the process's memory by {grown:.0f} MiB on Nq = Nk = {case.n_q} (causal, blocks of "
            f"{case.block_m}); the float32 score matrix alone is {matrix_mib:.0f} MiB and the limit is "
            f"{MEMORY_BOUND_BYTES >> 20} MiB, measured by the operating system",
            hint="something of Nq x Nk size was built (scores, probabilities or a mask, in torch, numpy or another "
                 "thread); compute them one [block_m, block_n] tile at a time",
            example=case.describe(),
        ), ""
    return None, f"peak memory +{grown:.1f} MiB at Nq = Nk = {case.n_q} (the score matrix: {matrix_mib:.0f} MiB)"


def _tiled_structure(ctx: Context, fn: str):
    result = run_cases(ctx, structural_attention_cases(TILED_BOUNDS), attention_judge(ctx, fn, rules=(size_rule(fn),)),
                       "right results, and no intermediate reached B*Hq*Nq*Nk/2 elements")
    if result.status != PASSED:
        return result
    failure, measured = memory_bound(ctx, fn)
    if failure is not None:
        return outcome_result(ctx, failure)
    return ctx.result(PASSED, f"{result.summary}; {measured}")


def _ragged(n: int, block: int) -> int:
    return n % block or block


def loop_order_rule(fn: str, outer: str) -> Rule:
    """Scores come in [block_m, block_n] tiles, each (Q block, K/V block) pair once,
    vectorised over batch and heads, in the loop order of the algorithm: ``outer`` is
    "kv" (v1: K/V blocks outside) or "q" (v2). Only the ragged last block of each
    side is recognisable by its size, so the order is read from it: the tiles of the
    outer loop's ragged block come one after another, those of the inner loop's are
    spread out."""

    def rule(case: AttentionCase, call: CallResult) -> Outcome | None:
        bm, bn = case.block_m, case.block_n
        q_sizes, k_sizes = {bm, _ragged(case.n_q, bm)}, {bn, _ragged(case.n_k, bn)}
        tiles = []  # (rows of the Q block, keys of the K/V block), in call order
        for rows, cols, inner in call.report.products:
            if inner != case.head_dim:
                continue  # P V, or another product: not a score tile
            if rows in q_sizes and cols in k_sizes:
                tiles.append((rows, cols))
            elif rows in k_sizes and cols in q_sizes:  # computed as K_j Q_iᵀ
                tiles.append((cols, rows))
            else:
                sizes = {rows, cols}
                whole = sizes == {case.n_q, case.n_k}
                why = ("the whole Nq x Nk score matrix in one product is naive attention: " if whole
                       else "scores against every key at once, block_m rows at a time, are naive attention over "
                            "chunks of rows, not FlashAttention: " if case.n_k in sizes else "")
                return Outcome(
                    FAILED,
                    f"{fn} computed a {rows} x {cols} block of scores (a product over the head dim D = "
                    f"{case.head_dim}); with block_m = {bm} and block_n = {bn} every score tile is a "
                    f"[block_m, block_n] tile (Nq = {case.n_q}, Nk = {case.n_k})",
                    hint=why + "compute S_ij = Q_i K_jᵀ one [block_m, block_n] tile at a time and merge the tiles "
                               "with the running max and normaliser",
                )
        t_r, t_c = -(-case.n_q // bm), -(-case.n_k // bn)
        if not tiles:
            return Outcome(FAILED, f"{fn} computed no score tile Q_i K_jᵀ with a matrix product",
                           hint="the grader reads the loop order from the matrix products (@, torch.matmul, "
                                "torch.einsum) that compute each [block_m, block_n] tile of scores")
        if len(tiles) != t_r * t_c:
            heads = case.batch * case.heads_q
            return Outcome(
                FAILED,
                f"{fn} computed {len(tiles)} score tiles; Nq = {case.n_q} in blocks of {bm} and Nk = {case.n_k} "
                f"in blocks of {bn} make {t_r} x {t_c} = {t_r * t_c} (Q block, K/V block) pairs, each computed once",
                hint=(f"{len(tiles)} = {heads} x {t_r * t_c}: a loop over batch and heads; vectorise over them "
                      "with tensor ops and loop only over blocks" if len(tiles) == heads * t_r * t_c else
                      "compute each tile once, with all batches and heads in one product"),
            )
        side = 1 if outer == "kv" else 0
        tail = _ragged(case.n_k, bn) if outer == "kv" else _ragged(case.n_q, bm)
        steps = [i for i, tile in enumerate(tiles) if tile[side] == tail]
        if steps == list(range(steps[0], steps[0] + len(steps))):
            return None
        outer_name = "K/V" if outer == "kv" else "Q"
        shown = ", ".join(str(i + 1) for i in steps[:6]) + (", ..." if len(steps) > 6 else "")
        return Outcome(
            FAILED,
            f"{fn} ran its loops in the wrong order: the score tiles of the last {outer_name} block came at "
            f"steps {shown} of {len(tiles)}, not one after another as an outer loop over {outer_name} "
            f"blocks gives",
            hint=("Algorithm 1 of FlashAttention (v1) loads one K/V block in the outer loop and runs every Q block "
                  "against it in the inner loop, reading and writing O, l, m in full-size buffers; Q blocks "
                  "outside is FlashAttention-2's order" if outer == "kv" else
                  "FlashAttention-2 keeps one Q block in the outer loop and streams every K/V block past it in "
                  "the inner loop; K/V blocks outside is v1's order"),
        )

    return rule


def _loop_order(ctx: Context, fn: str, outer: str):
    return run_cases(ctx, [LOOP_ORDER_CASE], attention_judge(ctx, fn, rules=(loop_order_rule(fn, outer),)),
                     "right results, with [block_m, block_n] score tiles in the algorithm's loop order")


@check("level2.flash_v1", "oracle")
def flash_v1_matches_oracle(ctx: Context):
    return _tiled_correct(ctx, "flash_attn_v1")


@check("level2.flash_v1", "no_full_matrix")
def flash_v1_never_materialises(ctx: Context):
    return _tiled_structure(ctx, "flash_attn_v1")


@check("level2.flash_v1", "loop_order")
def flash_v1_loop_order(ctx: Context):
    return _loop_order(ctx, "flash_attn_v1", outer="kv")


@check("level2.flash_v2", "oracle")
def flash_v2_matches_oracle(ctx: Context):
    return _tiled_correct(ctx, "flash_attn_v2")


@check("level2.flash_v2", "no_full_matrix")
def flash_v2_never_materialises(ctx: Context):
    return _tiled_structure(ctx, "flash_attn_v2")


@check("level2.flash_v2", "loop_order")
def flash_v2_loop_order(ctx: Context):
    return _loop_order(ctx, "flash_attn_v2", outer="q")


@check("level2.flash_v2", "causal_skip")
def flash_v2_skips_masked_blocks(ctx: Context):
    """Causal v2 on Nq = Nk = 8 blocks visits 36 of 64 block pairs: with right results
    both ways, it must run at most 3/4 of the matrix products of the non-causal call."""
    base = AttentionCase(1, 2, 1, 128, 128, 16, 16, "float32", False, None, False, 1.0, 5, 16, 16)
    counts = {}

    def count(case: AttentionCase, call: CallResult) -> None:
        counts[case.causal] = call.report.contractions

    result = run_cases(ctx, [base, dataclasses.replace(base, causal=True)],
                       attention_judge(ctx, "flash_attn_v2", rules=(count,)), "")
    if result.status != PASSED:
        return result
    if counts[False] == 0 or counts[True] > 0.75 * counts[False]:
        return ctx.result(
            FAILED,
            f"causal flash_attn_v2 ran {counts[True]} matrix products, non-causal {counts[False]} "
            f"(Nq = Nk = 128, blocks of 16: skipping hidden blocks leaves 36 of 64 block pairs)",
            example=dataclasses.replace(base, causal=True).describe(),
            hint="under causal, stop the inner loop at the last K/V block the Q block can see: "
                 "min(Nk, i1 + Nk - Nq) keys",
        )
    return ctx.result(PASSED, f"right results; causal ran {counts[True]} matrix products, non-causal {counts[False]}")


# ----------------------------------------------------------------------------- Triton

TRITON_FN = "flash_attn_v2_triton"


def _triton_bounds(ctx: Context) -> AttentionBounds:
    return TRITON_CPU_BOUNDS if ctx.interpreted else TRITON_GPU_BOUNDS


def _decorator_name(node: ast.expr) -> str:
    target = node.func if isinstance(node, ast.Call) else node
    return target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")


def kernel_source_problem(source: str, filename: str) -> str:
    """Why ``source`` cannot hold the Triton answer ('' if it can): it must define a
    ``@triton.jit`` function and launch one as ``kernel[grid](...)``."""
    tree = ast.parse(source)
    kernels = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)
               and any(_decorator_name(d) == "jit" for d in node.decorator_list)}
    if not kernels:
        return f"{filename} defines no @triton.jit function"
    launched = {node.func.value.id if isinstance(node.func.value, ast.Name) else node.func.value.attr
                for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Subscript)
                and isinstance(node.func.value, (ast.Name, ast.Attribute))}
    if not kernels & launched:
        return f"{filename} never launches its kernel{'s' if len(kernels) > 1 else ''} " \
               f"({', '.join(sorted(kernels))}) as kernel[grid](...)"
    return ""


def own_kernel_rule(ctx: Context, fn: str) -> Rule:
    """The answer came from a Triton kernel of the student's file: the file defines
    and launches one (read here, in the parent), the call launched one (counted in
    the child), and torch computed no attention of its own (no matrix product, no
    SDPA, no softmax)."""
    path = Path(ctx.student.path)
    problem = functools.cache(lambda: kernel_source_problem(path.read_text(), path.name))
    prefix = ctx.student.module_name + "."
    hint = ("write the attention in a @triton.jit kernel of this file and launch it from the wrapper with "
            "kernel[grid](...); PyTorch (SDPA, matmul and softmax) is the reference here, not the answer")

    def rule(case: AttentionCase, call: CallResult) -> Outcome | None:
        if problem():
            return Outcome(FAILED, f"no Triton kernel of yours ran: {problem()}", hint=hint)
        launches = sum(n for name, n in call.report.kernel_launches.items() if name.startswith(prefix))
        if launches == 0:
            return Outcome(FAILED, f"no Triton kernel of yours ran: {fn} returned without launching a "
                                   f"@triton.jit function of {path.name}", hint=hint)
        torch_ops = sorted(name for name in call.report.op_counts
                           if name in MATRIX_PRODUCTS or name in SDPA or name in SOFTMAX_FAMILY)
        if torch_ops:
            ops = ", ".join("aten." + name for name in torch_ops)
            return Outcome(FAILED, f"{fn} computed with torch besides its kernel ({ops}): the attention must be "
                                   f"computed by your Triton kernel", hint=hint)
        return None

    return rule


def no_copy_rule(fn: str) -> Rule:
    def rule(case: AttentionCase, call: CallResult) -> Outcome | None:
        report = call.report
        if not report.input_copies:
            return None
        return Outcome(
            FAILED,
            f"{fn} copied its inputs (aten.{report.input_copy_op} of a {list(report.input_copy_shape)} tensor, "
            f"{report.input_copies} cop{'y' if report.input_copies == 1 else 'ies'} in all): read q, k, v through "
            f"their strides, never through a .contiguous() copy",
            hint="pass q.stride(0), ..., q.stride(3) (and k's, v's) to the kernel and build every address from "
                 "them; a .contiguous() copy reads and writes all of q, k and v once more in HBM",
        )

    return rule


def _triton_judge(ctx: Context, rules: tuple[Rule, ...] = ()):
    return attention_judge(ctx, TRITON_FN, requires=(own_kernel_rule(ctx, TRITON_FN),), rules=rules,
                           block_guesses=KERNEL_BLOCKS)


@check("level2.flash_v2_triton", "oracle")
def triton_matches_oracle(ctx: Context):
    bounds = _triton_bounds(ctx)
    return run_examples_then_batteries(ctx, attention_cases(bounds), _triton_judge(ctx), attention_batteries(bounds))


@check("level2.flash_v2_triton", "strided_views")
def triton_reads_views(ctx: Context):
    """Transposed views ([B, N, H, D] tensors seen as [B, H, N, D]), two batches and
    grouped heads: right results, read in place (the stub forbids a .contiguous() copy)."""
    cases = [AttentionCase(2, 2, 1, 37, 45, 16, 16, "float16", False, None, True, 1.0, 31),
             AttentionCase(1, 4, 2, 21, 70, 32, 32, "bfloat16", True, 0.3, True, 1.0, 32)]
    return run_cases(ctx, cases, _triton_judge(ctx, rules=(no_copy_rule(TRITON_FN),)),
                     "right results on transposed views, read in place without copying q, k or v")


@check("level2.flash_v2_triton", "long_sequences")
def triton_long_sequences(ctx: Context):
    """Lengths of a few thousand, ragged, on the GPU (too slow for the interpreter)."""
    cases = [
        AttentionCase(1, 4, 2, 1025, 2047, 128, 128, "float16", True, None, True, 1.0, 11),
        AttentionCase(2, 2, 2, 1999, 1999, 64, 64, "bfloat16", True, None, False, 4.0, 12),
        AttentionCase(1, 3, 1, 4097, 3001, 32, 32, "float16", False, 0.3, False, 1.0, 13),
    ]
    return run_cases(ctx, cases, _triton_judge(ctx), "ragged lengths up to 4097 agree with the oracle")


# ----------------------------------------------------------------------------- bad input


@check("level2.flash_v2_triton", "rejects_bad_input")
def triton_rejects_bad_input(ctx: Context):
    """Unsupported input raises ValueError/TypeError naming the problem, not a crash."""

    def bad(what, shape, dtype, names, device=None):
        q = torch.randn(shape).to(DTYPES[dtype])
        return BadCall(what, TRITON_FN, (q, q.clone(), q.clone()), ("ValueError", "TypeError"), names, device)

    cases = [bad("fp32 inputs (only fp16/bf16 are supported)", (1, 2, 33, 64), "float32", ("dtype", "float32")),
             bad("head dim 80 (supported: 16, 32, 64, 128)", (1, 2, 33, 80), "float16", ("head", r"\b80\b"))]
    if ctx.device == "cuda":
        # CPU tensors are sent as they are: the worker moves tensors only when device is cuda.
        cases.append(bad("CPU tensors on a GPU run", (1, 2, 33, 64), "float16", ("cuda", "device", "cpu"), "cpu"))
    return rejects_bad_input(ctx, cases, ("oracle",), "unsupported dtype, head dim and device raise a clear error",
                    hint="check dtype, head dim and device first, and raise ValueError naming the argument "
                         "(grader.contract.check_attention_inputs does it)")


@check("level2.flash_v2_triton", "speed")
def triton_speed(ctx: Context):
    return timing_check(ctx, TRITON_FN, prerequisites=("oracle", "long_sequences"))


# ----------------------------------------------------------------------------- HBM-traffic model


@dataclasses.dataclass(frozen=True)
class IOCase:
    n: int
    d: int
    block_m: int
    block_n: int

    def describe(self) -> str:
        return f"n={self.n} d={self.d} block_m={self.block_m} block_n={self.block_n}"


@st.composite
def io_cases(draw) -> IOCase:
    return IOCase(draw(st.integers(1, 70000)), draw(st.sampled_from((16, 64, 80, 128, 256))),
                  draw(st.sampled_from((16, 32, 64, 128, 100))), draw(st.sampled_from((16, 32, 64, 128, 100))))


def _io_judge(ctx: Context, fn: str, model, hint: str):
    def judge(case: IOCase) -> Outcome | None:
        call = ctx.student.call(fn, (case.n, case.d, case.block_m, case.block_n), device=ctx.device)
        failure = call_failure(call, fn)
        if failure is not None:
            return failure
        want = model(case.n, case.d, case.block_m, case.block_n)
        got = call.value
        if isinstance(got, (list, tuple)) and len(got) == 2 and all(type(x) is int for x in got) \
                and tuple(got) == want:
            return None
        return Outcome(FAILED, f"{fn}: expected (reads, writes) = {want}, got {got!r}", hint=hint)

    return judge


@check("level2.io_model", "v1")
def io_v1(ctx: Context):
    hint = ("count per outer K/V step: K_j and V_j once; per inner step Q_i, O_i, l_i, m_i read and O_i, "
            "l_i, m_i written; plus the initial writes of O, l, m. Return Python ints")
    return run_examples(ctx, io_cases(), _io_judge(ctx, "hbm_io_v1", oracle.hbm_io_v1, hint))


@check("level2.io_model", "v2")
def io_v2(ctx: Context):
    hint = ("each Q block is read once and streams all of K and V; O and the logsumexp are written "
            "once. A ragged last block reads only its rows. Return Python ints")
    return run_examples(ctx, io_cases(), _io_judge(ctx, "hbm_io_v2", oracle.hbm_io_v2, hint))


@check("level2.io_model", "rejects_bad_input")
def io_rejects_bad_input(ctx: Context):
    """The stub asks for a ValueError naming any argument that is not a positive int."""
    good = {"n": 4096, "d": 64, "block_m": 64, "block_n": 128}
    cases = []
    for fn in ("hbm_io_v1", "hbm_io_v2"):
        for name, value in (("n", 0), ("d", -64), ("block_m", 32.0), ("block_n", True)):
            args = {**good, name: value}
            shown = ", ".join(f"{k}={v!r}" for k, v in args.items())
            cases.append(BadCall(f"{fn}({shown}): {name} is not a positive int", fn, tuple(args.values()),
                                 ("ValueError",), (rf"\b{name}\b",)))
    return rejects_bad_input(ctx, cases, ("v1", "v2"), "0, negative, float and bool arguments raise ValueError naming them",
                    hint="check each argument first: an int (not a bool: True is an int in Python) and >= 1, "
                         "else raise ValueError(f\"n must be a positive int, got {n!r}\")")


# ----------------------------------------------------------------------------- backward (bonus)

BACKWARD_BOUNDS = AttentionBounds(head_dims=(16, 24), max_len=120, max_batch_heads=4,
                                  block_sizes=((16, 16), (32, 16), (16, 32)))


def _naive_backward_from_out(case: AttentionCase, q, k, v, out, dout):
    """The textbook backward in float32 from the *given* (rounded) out: the precision
    floor of this interface. D_i = rowsum(dO * O) cancels against dP where one key
    dominates, so the rounding of out shows in dk even for a perfect implementation."""
    group = case.heads_q // case.heads_kv
    scale = 1.0 / math.sqrt(case.head_dim) if case.softmax_scale is None else case.softmax_scale
    q32, dout32, out32 = q.float(), dout.float(), out.float()
    k32, v32 = (t.float().repeat_interleave(group, dim=1) for t in (k, v))
    scores = scale * (q32 @ k32.transpose(-1, -2))
    visible = oracle.visible_keys(case.n_q, case.n_k, case.causal)
    if visible is not None:
        scores = scores.masked_fill(~visible, float("-inf"))
    lse = torch.logsumexp(scores, dim=-1, keepdim=True)
    probs = torch.exp(scores - torch.where(torch.isinf(lse), 0.0, lse))
    d_probs = dout32 @ v32.transpose(-1, -2)
    d_scores = probs * (d_probs - (dout32 * out32).sum(dim=-1, keepdim=True)) * scale
    dq = d_scores @ k32
    dk = (d_scores.transpose(-1, -2) @ q32).unflatten(1, (case.heads_kv, group)).sum(dim=2)
    dv = (probs.transpose(-1, -2) @ dout32).unflatten(1, (case.heads_kv, group)).sum(dim=2)
    return dq.to(q.dtype), dk.to(k.dtype), dv.to(v.dtype)


def _backward_judge(ctx: Context, enforce_size_limit: bool = False):
    fn = "flash_attn_v2_backward"

    def judge(case: AttentionCase) -> Outcome | None:
        q, k, v = case.tensors()
        dout = torch.randn(q.shape[:3] + (case.head_dim_v,), generator=torch.Generator().manual_seed(case.seed + 7))
        dout = dout.to(q.dtype)
        out64, lse64 = oracle.attention(q, k, v, case.causal, case.softmax_scale)
        out, lse = out64.to(q.dtype), lse64.float()
        args = (q, k, v, out, lse, dout)
        call = ctx.student.call(fn, args, case.kwargs(), device=ctx.device)
        failure = call_failure(call, fn)
        if failure is not None:
            return failure
        if call.modified:
            return modified_outcome(fn, call.modified, names=("q", "k", "v", "out", "lse", "dout"))
        if enforce_size_limit and call.report.largest_numel >= size_limit(case):
            return Outcome(FAILED, f"{fn} built a tensor of {call.report.largest_numel} elements "
                           f"(shape {list(call.report.largest_shape)}); the limit is {size_limit(case)}",
                           hint="recompute P one [block_m, block_n] tile at a time from lse")
        got = call.value
        if not isinstance(got, (tuple, list)) or len(got) != 3:
            return Outcome(FAILED, f"{fn} must return (dq, dk, dv), got {type(got).__name__}")
        expected = oracle.attention_backward(q, k, v, dout, case.causal, case.softmax_scale)
        baseline = _naive_backward_from_out(case, q, k, v, out, dout)
        for name, g, e, b, like in zip(("dq", "dk", "dv"), got, expected, baseline, (q, k, v)):
            mismatch = compare(name, g, e, want_dtype=like.dtype, dtype=case.dtype, tol=ctx.tolerance, baseline=b,
                               device=ctx.device, got_device=None)
            if mismatch is not None:
                hint = ""
                if name in ("dk", "dv") and case.heads_q != case.heads_kv:
                    hint = "with grouped heads, dk and dv sum the contributions of every query head of the group"
                return Outcome(FAILED, mismatch.message, hint=hint, measured=mismatch.measured,
                               allowed=mismatch.allowed)
        return None

    return judge


@check("level2.flash_v2_backward", "oracle")
def backward_matches_autograd(ctx: Context):
    return run_examples_then_batteries(ctx, attention_cases(BACKWARD_BOUNDS), _backward_judge(ctx),
                                       attention_batteries(BACKWARD_BOUNDS))


@check("level2.flash_v2_backward", "no_full_matrix")
def backward_never_materialises(ctx: Context):
    return run_cases(ctx, structural_attention_cases(BACKWARD_BOUNDS, block=16),
                     _backward_judge(ctx, enforce_size_limit=True),
                     "right gradients, and no intermediate reached B*Hq*Nq*Nk/2 elements")
