"""Level 4 checks: MLA decode over a paged KV cache (the PyTorch reference and the
Triton split-KV kernel) and the split scheduler.

Decode results are judged like every attention result (float64 oracle, tolerance
from a same-dtype naive run, NaN-poisoned outputs) on inputs built the way FlashMLA's
tests build them: shuffled block tables, NaN in every slot past a length and in every
unused page, random int32 block-table entries past the used pages. The scheduler is
judged by its properties, one check each; every property check first requires the
plan to be well formed and to cover every block (an empty plan is trivially cheap,
ordered and deterministic, and earns nothing).
"""

from __future__ import annotations

import dataclasses

import torch
from hypothesis import strategies as st

from grader import oracle
from grader.checks.attention import Rule, modified_outcome, unpack_pair
from grader.checks.base import (
    Context,
    Outcome,
    call_failure,
    check,
    run_cases,
    run_examples,
    run_examples_then_batteries,
)
from grader.checks.bad_input import BadCall, rejects_bad_input
from grader.checks.level2 import own_kernel_rule
from grader.diagnose import PAGED_HINTS, paged_hint
from grader.inputs import DTYPES, PagedBounds, PagedCase, paged_cases
from grader.isolation import CallResult
from grader.results import FAILED
from grader.timing import timing_check
from grader.tolerance import compare, naive_attention_in_dtype

ARG_NAMES = ("q", "k_cache", "block_table", "cache_seqlens", "head_dim_v")

# The PyTorch reference on the CPU: every feature, up to 128 query heads and DeepSeek's
# 576/512 head dims; max_work keeps h_q * s_q * L (the CPU time of one case) bounded.
PAGED_CPU_BOUNDS = PagedBounds()
PAGED_GPU_BOUNDS = dataclasses.replace(PAGED_CPU_BOUNDS, max_batch=8, max_len=1024, max_work=128 * 2 * 512)
# The Triton kernel under the interpreter: few heads, short caches, fp16/bf16 only.
MLA_CPU_BOUNDS = PagedBounds(dtypes=("float16", "bfloat16"), dims=((64, 64), (48, 32), (576, 512)),
                             block_sizes=(16, 32, 48, 64), groups=(1, 2, 4, 8, 16), max_heads_q=16, max_batch=3,
                             max_len=150, max_work=16 * 2 * 150)
MLA_GPU_BOUNDS = dataclasses.replace(MLA_CPU_BOUNDS, block_sizes=(16, 32, 48, 64, 128),
                                     groups=(1, 2, 8, 16, 64, 128), max_heads_q=128, max_batch=8, max_len=1500,
                                     max_work=128 * 2 * 1024)  # the float64 oracle runs on the CPU: bounded


def _case(lengths, *, s_q=1, heads_q=1, heads_kv=1, dims=(64, 64), block_size=16, dtype="float32", causal=False,
          scale=None, logits=1.0, shuffled=True, nan=True, garbage=True, seed=0, num_splits=None) -> PagedCase:
    return PagedCase(tuple(lengths), s_q, heads_q, heads_kv, dims[0], dims[1], block_size, dtype, causal, scale,
                     logits, shuffled, nan, garbage, spare_pages=2, extra_columns=2, seed=seed,
                     num_splits=num_splits)


# ----------------------------------------------------------------------------- decode judge


def naive_paged_in_dtype(case: PagedCase, q, k_cache, block_table, cache_seqlens):
    """Plain attention in the inputs' dtype, sequence by sequence: the precision floor
    (see grader.tolerance.naive_attention_in_dtype) laid out as the contract's outputs."""
    outs, lses = [], []
    for i, length in enumerate(case.lengths):
        keys = oracle.paged_sequence_keys(k_cache, block_table, length, i).permute(1, 0, 2).unsqueeze(0)
        visible = oracle.visible_keys(case.s_q, length, case.causal)
        out, lse = naive_attention_in_dtype(q[i].permute(1, 0, 2).unsqueeze(0), keys, keys[..., :case.head_dim_v],
                                            case.scale, visible)
        outs.append(out[0].permute(1, 0, 2))
        lses.append(lse[0])
    return torch.stack(outs), torch.stack(lses)


def _error_hint(case: PagedCase, call: CallResult) -> str:
    """A crash or an index error on a case with random table entries past the used pages."""
    if not case.garbage:
        return ""
    text = call.error.lower()
    if call.status == "crashed" or any(sign in text for sign in ("index", "out of bounds", "illegal memory",
                                                                   "illegal address", "device-side assert")):
        return PAGED_HINTS["garbage_table"]
    return ""


def paged_judge(ctx: Context, fn: str, *, requires: tuple[Rule, ...] = (), rules: tuple[Rule, ...] = ()):
    """Judge one PagedCase: the call, inputs untouched, ``requires`` (the answer came from
    a kernel), out and lse against the float64 oracle, then ``rules``."""

    def judge(case: PagedCase) -> Outcome | None:
        inputs = case.paged_inputs()
        call = ctx.student.call(fn, (*inputs, case.head_dim_v), case.kwargs(), device=ctx.device)
        failure = call_failure(call, fn)
        if failure is not None:
            failure.hint = failure.hint or _error_hint(case, call)
            return failure
        if call.modified:
            return modified_outcome(fn, call.modified, names=ARG_NAMES)
        for rule in requires:
            outcome = rule(case, call)
            if outcome is not None:
                return outcome
        pair = unpack_pair(fn, call.value)
        if isinstance(pair, Outcome):
            return pair
        got_out, got_lse = pair
        expected = oracle.paged_mla(*inputs, case.head_dim_v, case.softmax_scale, case.causal)
        baseline = naive_paged_in_dtype(case, *inputs)
        devices = call.devices + [None, None]
        mismatch = compare("out", got_out, expected[0], want_dtype=DTYPES[case.dtype], dtype=case.dtype,
                           tol=ctx.tolerance, baseline=baseline[0], device=ctx.device, got_device=devices[0]) \
            or compare("lse", got_lse, expected[1], want_dtype=torch.float32, dtype=case.dtype, tol=ctx.tolerance,
                       baseline=baseline[1], device=ctx.device, got_device=devices[1])
        if mismatch is not None:
            hint = paged_hint(case, inputs, got_out, got_lse, mismatch, expected, baseline, ctx.tolerance)
            return Outcome(FAILED, mismatch.message, hint=hint, measured=mismatch.measured, allowed=mismatch.allowed)
        for rule in rules:
            outcome = rule(case, call)
            if outcome is not None:
                return outcome
        return None

    return judge


def _batteries(dtypes: tuple[str, str]) -> list[PagedCase]:
    """Two batches that hold every condition at once (an empty sequence beside long and
    page-boundary ones, a one-token one, causal s_q = 4 with rows that see nothing, a
    shuffled pool, NaN past each length and in unused pages, random table entries,
    grouped heads with h_q = s_q, dv != d, a strided q; then DeepSeek's head dims).
    Random draws cover these only by chance; the batteries make sure every oracle check
    sees them."""
    return [_case((0, 1, 17, 40, 100), s_q=4, heads_q=4, heads_kv=2, dims=(48, 32), dtype=dtypes[0], causal=True,
                  logits=4.0, seed=31),
            dataclasses.replace(_case((64, 0, 130), s_q=2, heads_q=16, dims=(576, 512), block_size=32,
                                      dtype=dtypes[1], seed=32), q_strided=True)]


# ----------------------------------------------------------------------------- paged_kv (PyTorch)

REFERENCE_FN = "mla_decode_reference"


@check("level4.paged_kv", "oracle")
def paged_matches_oracle(ctx: Context):
    bounds = PAGED_GPU_BOUNDS if ctx.device == "cuda" else PAGED_CPU_BOUNDS
    return run_examples_then_batteries(ctx, paged_cases(bounds), paged_judge(ctx, REFERENCE_FN),
                                       _batteries(("float32", "bfloat16")))


EDGE_CASES = [
    _case((0, 0), s_q=2, heads_q=4, heads_kv=2, dims=(40, 24), causal=True, seed=41),  # every sequence empty
    # L < s_q under causal: the first queries of those sequences see no key at all
    _case((0, 1, 2, 16, 17), s_q=4, heads_q=4, heads_kv=2, dims=(40, 24), causal=True, seed=42),
    _case((16, 32, 48), heads_q=2, dims=(16, 16), seed=43),  # every length ends a page
    # DeepSeek's heads (h_q = 128 on one latent kv head, d = 576, dv = 512), short caches
    _case((1, 130, 0), heads_q=128, dims=(576, 512), block_size=64, dtype="bfloat16", seed=44),
    _case((3, 64), s_q=2, heads_q=128, dims=(576, 512), block_size=64, dtype="float16", causal=True, seed=45),
]


@check("level4.paged_kv", "edge_cases")
def paged_edge_cases(ctx: Context):
    return run_cases(ctx, EDGE_CASES, paged_judge(ctx, REFERENCE_FN),
                     "empty sequences, causal rows with no visible key, full last pages and DeepSeek's heads "
                     "agree with the oracle")


NAN_GARBAGE_CASES = [
    # shuffled pool, NaN past every length and in the unused pages, random int32 past the used entries
    _case((5, 70, 33), s_q=2, heads_q=2, dims=(64, 64), block_size=32, dtype="float16", causal=True, seed=51),
    # unused entries that are real pages of the pool, full of NaN
    _case((5, 70, 33), s_q=2, heads_q=2, dims=(64, 64), block_size=32, dtype="float16", causal=True, garbage=False,
          seed=52),
    _case((100, 1), heads_q=3, dims=(40, 24), block_size=16, logits=4.0, seed=53),
]


@check("level4.paged_kv", "nan_and_garbage")
def paged_nan_and_garbage(ctx: Context):
    return run_cases(ctx, NAN_GARBAGE_CASES, paged_judge(ctx, REFERENCE_FN),
                     "NaN past each length and in unused pages, and random block-table entries past the used "
                     "pages, never reach the result")


def _paged_bad_calls(fn: str, *, kernel: bool) -> list[BadCall]:
    """Calls the contract rejects. ``kernel``: the Triton exercise's own limits (fp16/bf16,
    block_size a multiple of 16, d <= 576, num_splits >= 1); else the reference's value
    checks (lengths, used block-table entries)."""
    dtype = "float16" if kernel else "float32"
    q, k_cache, table, lengths = _case((5, 20), heads_q=2, dims=(64, 64), dtype=dtype, nan=False, garbage=False,
                                       seed=7).paged_inputs()
    errors = ("ValueError", "TypeError")

    def bad(what, args, names):
        return BadCall(what, fn, args, errors, names)

    cases = [
        bad("block_table of dtype int64", (q, k_cache, table.long(), lengths, 64), ("block_table",)),
        bad("cache_seqlens of dtype int64", (q, k_cache, table, lengths.long(), 64), ("cache_seqlens",)),
        bad("k_cache of another dtype than q", (q, k_cache.double(), table, lengths, 64), ("k_cache",)),
        bad("q with 3 dimensions", (q[0], k_cache, table, lengths, 64), (r"\bq\b",)),
        bad("h_q = 3 query heads on h_kv = 2 kv heads", (q[:, :, :1].expand(-1, -1, 3, -1), torch.cat(
            [k_cache, k_cache], dim=2), table, lengths, 64), ("h_q", "head")),
        bad("head_dim_v = 65 > d = 64", (q, k_cache, table, lengths, 65), ("head_dim_v",)),
        bad("cache_seqlens with 3 lengths for a batch of 2", (q, k_cache, table, torch.cat([lengths, lengths[:1]]), 64),
            ("cache_seqlens",)),
    ]
    if kernel:
        q32, k32 = q.float(), k_cache.float()
        wide_q, wide_k = (torch.cat([t] * 10, dim=-1) for t in (q, k_cache))
        cases += [
            bad("fp32 inputs (only fp16 and bf16 are supported)", (q32, k32, table, lengths, 64), ("dtype", "float32")),
            bad("block_size 24 (a multiple of 16 is required)", (q, k_cache[:, :8].repeat(1, 3, 1, 1), table, lengths,
                                                                 64), ("block", r"\b24\b")),
            bad("d = 640 (at most 576)", (wide_q, wide_k, table, lengths, 64), ("head dim", "576", r"\b640\b")),
            bad("num_splits = 0", (q, k_cache, table, lengths, 64, None, False, 0), (r"\bnum_splits\b",)),
        ]
    else:
        cases += [
            bad("q of dtype float64", (q.double(), k_cache.double(), table, lengths, 64), ("dtype", "float64")),
            bad("a length past the table (L = 100 > 2 pages of 16)", (q, k_cache, table[:, :2], torch.tensor(
                [5, 100], dtype=torch.int32), 64), ("cache_seqlens",)),
            bad("a negative length", (q, k_cache, table, torch.tensor([5, -1], dtype=torch.int32), 64),
                ("cache_seqlens",)),
            bad("a used block-table entry outside the pool", (q, k_cache, torch.where(
                torch.arange(table.shape[1]) == 0, 10_000, table).to(torch.int32), lengths, 64), ("block_table",)),
        ]
    return cases


@check("level4.paged_kv", "rejects_bad_input")
def paged_rejects_bad_input(ctx: Context):
    return rejects_bad_input(ctx, _paged_bad_calls(REFERENCE_FN, kernel=False), ("oracle",),
                    "bad dtypes, shapes, head counts, head_dim_v, lengths and block-table entries raise a clear error",
                    hint="check the arguments first and raise ValueError naming the argument "
                         "(grader.contract.check_paged_inputs does every check)")


# ----------------------------------------------------------------------------- mla_decode (Triton)

KERNEL_FN = "mla_decode"


def _kernel_judge(ctx: Context, rules: tuple[Rule, ...] = ()):
    return paged_judge(ctx, KERNEL_FN, requires=(own_kernel_rule(ctx, KERNEL_FN),), rules=rules)


# On the GPU, a third batch: 128 query rows per kv head at small head dims. Random draws
# reach this corner only by chance, and a launch rule tuned for DeepSeek's 576/512 must
# be right there too (the reference takes its 64-row tiles with 4 warps only here).
MANY_ROWS_SMALL_DIMS = _case((300, 0, 65, 128), s_q=2, heads_q=128, heads_kv=2, dims=(64, 64), block_size=64,
                             dtype="bfloat16", causal=True, seed=33)


@check("level4.mla_decode", "oracle")
def kernel_matches_oracle(ctx: Context):
    bounds = MLA_CPU_BOUNDS if ctx.interpreted else MLA_GPU_BOUNDS
    batteries = _batteries(("float16", "bfloat16"))
    if not ctx.interpreted:
        batteries.append(MANY_ROWS_SMALL_DIMS)
    return run_examples_then_batteries(ctx, paged_cases(bounds), _kernel_judge(ctx), batteries)


DEEPSEEK_CASES = [  # DeepSeek-V3's decode: one latent kv head, d = 576, dv = 512, pages of 64 tokens
    _case((4096, 0, 1, 2049, 777, 4095), heads_q=16, dims=(576, 512), block_size=64, dtype="bfloat16", causal=True,
          seed=61),
    _case((2048, 1000, 65), s_q=2, heads_q=128, dims=(576, 512), block_size=64, dtype="bfloat16", causal=True,
          logits=4.0, seed=62),
    _case((3000, 129), s_q=2, heads_q=32, dims=(576, 512), block_size=64, dtype="float16", causal=True, seed=63),
    _case((1500, 0, 300), s_q=1, heads_q=64, dims=(576, 512), block_size=64, dtype="bfloat16", seed=64),
]


@check("level4.mla_decode", "deepseek")
def kernel_deepseek_shapes(ctx: Context):
    return run_cases(ctx, DEEPSEEK_CASES, _kernel_judge(ctx),
                     "DeepSeek's shapes (d = 576, dv = 512, h_q 16 to 128, s_q 1 and 2, lengths up to 4096) agree "
                     "with the oracle")


def split_kernels_rule(ctx: Context, fn: str) -> Rule:
    """With num_splits >= 2 the work is a split pass and a combine: at least two different
    @triton.jit functions of the student's file ran (the cases' longest sequence has
    several blocks, so no kernel may skip the combine)."""
    prefix = ctx.student.module_name + "."

    def rule(case: PagedCase, call: CallResult) -> Outcome | None:
        if case.num_splits is None or case.num_splits < 2:
            return None
        kernels = sorted(name.removeprefix(prefix) for name in call.report.kernel_launches if name.startswith(prefix))
        if len(kernels) >= 2:
            return None
        ran = f"only {kernels[0]}" if kernels else "no kernel of yours"
        return Outcome(FAILED, f"{fn} with num_splits = {case.num_splits} launched {ran}: a split-KV decode is a "
                               f"split pass that writes one partial (out, lse) per split, then a combine kernel "
                               f"that merges them",
                       hint="launch the split kernel over (batch, kv head, split), then a combine kernel that "
                            "merges the partial results with the Level 1 merge")

    return rule


NUM_SPLITS = (1, 2, 3, 5, 16)  # 16 splits: more than the longest sequence's 9 blocks of 16


def _num_splits_cases() -> list[PagedCase]:
    base = _case((0, 37, 130, 64), s_q=2, heads_q=4, heads_kv=1, dims=(64, 64), block_size=16, dtype="float16",
                 causal=True, seed=71)
    large = _case((140, 3), heads_q=2, heads_kv=2, dims=(576, 512), block_size=32, dtype="bfloat16", logits=30.0,
                  seed=72)  # logsumexps in the hundreds: exp(lse) overflows a combine that forgets the max
    return [dataclasses.replace(case, num_splits=n) for case in (base, large) for n in NUM_SPLITS]


@check("level4.mla_decode", "num_splits")
def kernel_num_splits(ctx: Context):
    """Any explicit num_splits gives the same (right) answer, more splits than blocks too."""
    return run_cases(ctx, _num_splits_cases(), _kernel_judge(ctx, rules=(split_kernels_rule(ctx, KERNEL_FN),)),
                     f"num_splits in {NUM_SPLITS} (more splits than blocks too) agree with the oracle, with a "
                     f"split pass and a combine kernel")


@check("level4.mla_decode", "rejects_bad_input")
def kernel_rejects_bad_input(ctx: Context):
    cases = _paged_bad_calls(KERNEL_FN, kernel=True)
    if ctx.device == "cuda":
        q, k_cache, table, lengths = _case((5, 20), heads_q=2, dtype="float16", nan=False, garbage=False,
                                           seed=8).paged_inputs()
        cases.append(BadCall("CPU tensors on a GPU run", KERNEL_FN, (q, k_cache, table, lengths, 64),
                             ("ValueError", "TypeError"), ("cuda", "device", "cpu"), "cpu"))
    return rejects_bad_input(ctx, cases, ("oracle",), "unsupported dtype, block size, head dims and shapes raise a clear error",
                    hint="check the arguments first and raise ValueError naming the argument "
                         "(grader.contract.check_paged_inputs takes the kernel's limits)")


MLA_SLOW_HINT = ("profile with `course bench level4`; usual suspects: the cache read once per query head instead of "
                 "once per kv head (all h_q / h_kv * s_q query rows of a kv head belong in one tile), too few "
                 "splits to fill the SMs at small batches (or so many that the partial results cost more than they "
                 "balance), KV tiles that are not prefetched (num_stages), d = 576 padded to 1024")


@check("level4.mla_decode", "speed")
def kernel_speed(ctx: Context):
    return timing_check(ctx, KERNEL_FN, prerequisites=("oracle", "deepseek", "num_splits"), slow_hint=MLA_SLOW_HINT)


# ----------------------------------------------------------------------------- scheduler

SCHEDULER_FN = "plan_splits"


@dataclasses.dataclass(frozen=True)
class ScheduleCase:
    lengths: tuple[int, ...]
    num_parts: int
    block_size: int
    fixed_cost: int

    @property
    def blocks(self) -> list[int]:
        return [-(-n // self.block_size) for n in self.lengths]

    @property
    def total_cost(self) -> int:
        return sum(n + self.fixed_cost for n in self.blocks)

    @property
    def budget(self) -> int:
        return -(-self.total_cost // self.num_parts) + self.fixed_cost

    def describe(self) -> str:
        return (f"plan_splits(cache_seqlens={list(self.lengths)}, num_parts={self.num_parts}, "
                f"block_size={self.block_size}, fixed_cost={self.fixed_cost}): blocks per request {self.blocks}, "
                f"total_cost {self.total_cost}, budget ceil({self.total_cost} / {self.num_parts}) + "
                f"{self.fixed_cost} = {self.budget}")

    def args(self) -> tuple:
        return (torch.tensor(self.lengths, dtype=torch.int32), self.num_parts)

    def kwargs(self) -> dict:
        return {"block_size": self.block_size, "fixed_cost": self.fixed_cost}


@st.composite
def schedule_cases(draw) -> ScheduleCase:
    """Batches as a server sees them: many empty or short requests beside long ones;
    part counts from 1 to an H100's 132 SMs."""
    length = st.one_of(st.just(0), st.integers(0, 300), st.integers(0, 6000))
    return ScheduleCase(
        lengths=tuple(draw(st.lists(length, max_size=40))),
        num_parts=draw(st.one_of(st.integers(1, 8), st.sampled_from((78, 132)), st.integers(1, 132))),
        block_size=draw(st.sampled_from((64, 16, 32, 128))),
        fixed_cost=draw(st.sampled_from((5, 0, 1, 10))),
    )


Plan = list[list[tuple[int, int, int]]]


def _plan_shape_problem(case: ScheduleCase, plan) -> str:
    """Why ``plan`` is not num_parts lists of (batch, first_block, end_block) int triples
    inside the requests ('' if it is)."""
    if not isinstance(plan, (list, tuple)) or len(plan) != case.num_parts:
        got = f"{type(plan).__name__} of length {len(plan)}" if isinstance(plan, (list, tuple)) else repr(plan)[:80]
        return f"expected a list of num_parts = {case.num_parts} parts (lists of pieces), got a {got}"
    for p, part in enumerate(plan):
        if not isinstance(part, (list, tuple)):
            return f"part {p} is a {type(part).__name__}, not a list of pieces"
        for piece in part:
            if not isinstance(piece, (list, tuple)) or len(piece) != 3 \
                    or not all(type(x) is int for x in piece):
                return f"part {p} holds {piece!r:.80}: a piece is a tuple (batch, first_block, end_block) of Python ints"
            batch, first, end = piece
            if not 0 <= batch < len(case.lengths):
                return f"part {p} holds {tuple(piece)}: there is no request {batch} (the batch has {len(case.lengths)})"
            if not 0 <= first <= end <= case.blocks[batch]:
                return (f"part {p} holds {tuple(piece)}: request {batch} has blocks 0..{case.blocks[batch] - 1}, so a "
                        f"piece needs 0 <= first_block <= end_block <= {case.blocks[batch]}")
    return ""


def _cover_problem(case: ScheduleCase, plan: Plan) -> str:
    seen: dict[tuple[int, int], list[str]] = {}
    for p, part in enumerate(plan):
        for batch, first, end in part:
            for block in range(first, end):
                seen.setdefault((batch, block), []).append(f"part {p} {(batch, first, end)}")
    for batch, n in enumerate(case.blocks):
        for block in range(n):
            where = seen.get((batch, block), [])
            if not where:
                partial = case.lengths[batch] % case.block_size
                why = (f" (its last block, partial: L = {case.lengths[batch]} tokens make ceil(L / block_size) = {n} "
                       f"blocks of {case.block_size})" if block == n - 1 and partial else "")
                return f"block {block} of request {batch} (blocks 0..{n - 1}) is in no piece{why}"
            if len(where) > 1:
                return f"block {block} of request {batch} is in {len(where)} pieces: {', '.join(where)}"
    for p, part in enumerate(plan):
        for batch, first, end in part:
            if first == end and case.blocks[batch] > 0:
                return (f"part {p} holds ({batch}, {first}, {end}), a piece of request {batch} that covers no block: "
                        f"it pays fixed_cost for nothing")
    return ""


def _order_problem(case: ScheduleCase, plan: Plan) -> str:
    """The pieces of non-empty requests, read part after part, walk (request, block) in order."""
    walk = [(p, piece) for p, part in enumerate(plan) for piece in part if case.blocks[piece[0]] > 0]
    expected = ((b, 0) for b, n in enumerate(case.blocks) if n > 0)
    cursor = next(expected, None)
    previous = None
    for p, (batch, first, end) in walk:
        if (batch, first) != cursor:
            after = f"after {previous[1]} in part {previous[0]}" if previous else "first"
            return (f"read in order, the pieces must walk the requests and their blocks in increasing order, each "
                    f"starting where the last ended: {after} should come a piece starting at request {cursor[0]} "
                    f"block {cursor[1]}, but part {p} holds {(batch, first, end)}")
        previous = (p, (batch, first, end))
        cursor = (batch, end) if end < case.blocks[batch] else next(expected, None)
    return ""


def _cost_problem(case: ScheduleCase, plan: Plan) -> str:
    for p, part in enumerate(plan):
        cost = sum(end - first + case.fixed_cost for _, first, end in part)
        if cost > case.budget:
            pieces = ", ".join(f"{(b, f, e)}: {e - f} + {case.fixed_cost}" for b, f, e in part[:4])
            more = ", ..." if len(part) > 4 else ""
            share = (f"; {len(part)} of the plan's pieces are in part {p}: the work is not spread over the parts"
                     if len(part) == sum(map(len, plan)) and case.num_parts > 1 else "")
            return (f"part {p} costs {cost} ({pieces}{more}), more than the budget ceil(total_cost / num_parts) + "
                    f"fixed_cost = {case.budget}{share}")
    return ""


def _empty_requests_problem(case: ScheduleCase, plan: Plan) -> str:
    walk = [piece for part in plan for piece in part]
    for batch, n in enumerate(case.blocks):
        if n:
            continue
        mine = [i for i, piece in enumerate(walk) if piece[0] == batch]
        if not mine:
            return (f"request {batch} is empty (cache_seqlens[{batch}] = 0) and appears in no piece: its output row "
                    f"(zeros, lse = -inf) must still be written, so plan it once as ({batch}, 0, 0)")
        if len(mine) > 1:
            return f"request {batch} is empty and appears {len(mine)} times; plan it once as ({batch}, 0, 0)"
        i = mine[0]
        if tuple(walk[i]) != (batch, 0, 0):
            return f"request {batch} is empty: plan it as ({batch}, 0, 0), not {tuple(walk[i])}"
        if any(b > batch for b, _, _ in walk[:i]) or any(b < batch for b, _, _ in walk[i + 1:]):
            return (f"the empty request {batch}'s piece ({batch}, 0, 0) is out of place: the walk goes through the "
                    f"requests in increasing order, empty ones included")
    return ""


def _normalised(plan) -> Plan:
    return [[tuple(piece) for piece in part] for part in plan]


SCHEDULER_HINTS = {
    "cover": "walk the requests in order with a cursor (request, block) that carries over from one part to the "
             "next; every block from 0 to ceil(L / block_size) - 1 goes into exactly one piece",
    "order": "fill part 0 from the start of the walk, then part 1 from where part 0 stopped, and so on; never skip "
             "ahead or go back",
    "cost_bound": "give each part the budget ceil(total_cost / num_parts) + fixed_cost; when the rest of a request "
                  "does not fit, take what fits (budget left - fixed_cost blocks) and let the next part continue it",
    "empty_requests": "an empty request costs fixed_cost and is planned as (i, 0, 0) in its place in the walk",
    "deterministic": "plan_splits must be a function of its arguments: no random numbers, no state kept between calls",
}


def _schedule_judge(ctx: Context, own: str):
    """Check the plan's shape and cover (what every property needs), then property ``own``."""
    problems = {"cover": _cover_problem, "order": _order_problem, "cost_bound": _cost_problem,
                "empty_requests": _empty_requests_problem}

    def judge(case: ScheduleCase) -> Outcome | None:
        call = ctx.student.call(SCHEDULER_FN, case.args(), case.kwargs(), device="cpu")
        failure = call_failure(call, SCHEDULER_FN)
        if failure is not None:
            return failure
        shape = _plan_shape_problem(case, call.value)
        if shape:
            return Outcome(FAILED, f"{SCHEDULER_FN}: {shape}", hint="return num_parts lists, each a (maybe empty) "
                                                                     "list of (batch, first_block, end_block) tuples")
        plan = _normalised(call.value)
        cover = _cover_problem(case, plan)
        if cover:
            prefix = "" if own == "cover" else "the plan must first cover every block once (the cover check): "
            return Outcome(FAILED, f"{SCHEDULER_FN}: {prefix}{cover}", hint=SCHEDULER_HINTS["cover"])
        if own == "deterministic":
            for _ in range(3):
                again = ctx.student.call(SCHEDULER_FN, case.args(), case.kwargs(), device="cpu")
                failure = call_failure(again, SCHEDULER_FN)
                if failure is not None:
                    return failure
                if _plan_shape_problem(case, again.value) or _normalised(again.value) != plan:
                    return Outcome(FAILED, f"{SCHEDULER_FN} returned a different plan when called again on the same "
                                           f"input: first {plan}, then {again.value!r:.300}",
                                   hint=SCHEDULER_HINTS["deterministic"],
                                   fatal=True)  # a failure that may not repeat cannot be shrunk
            return None
        problem = problems[own](case, plan) if own != "cover" else ""
        if problem:
            return Outcome(FAILED, f"{SCHEDULER_FN}: {problem}", hint=SCHEDULER_HINTS[own])
        return None

    return judge


def _scheduler_property(ctx: Context, own: str):
    result = run_examples(ctx, schedule_cases(), _schedule_judge(ctx, own))
    if result.status == "passed":
        result.summary = f"{ctx.examples} random batches: the property holds"
    return result


@check("level4.scheduler", "cover")
def scheduler_cover(ctx: Context):
    return _scheduler_property(ctx, "cover")


@check("level4.scheduler", "order")
def scheduler_order(ctx: Context):
    return _scheduler_property(ctx, "order")


@check("level4.scheduler", "cost_bound")
def scheduler_cost_bound(ctx: Context):
    return _scheduler_property(ctx, "cost_bound")


@check("level4.scheduler", "empty_requests")
def scheduler_empty_requests(ctx: Context):
    return _scheduler_property(ctx, "empty_requests")


@check("level4.scheduler", "deterministic")
def scheduler_deterministic(ctx: Context):
    return _scheduler_property(ctx, "deterministic")


@check("level4.scheduler", "rejects_bad_input")
def scheduler_rejects_bad_input(ctx: Context):
    lengths = torch.tensor([100, 0, 7], dtype=torch.int32)

    def bad(what, args, kwargs_names):
        return BadCall(what, SCHEDULER_FN, args, ("ValueError", "TypeError"), kwargs_names)

    cases = [
        bad("num_parts = 0", (lengths, 0), (r"\bnum_parts\b",)),
        bad("num_parts = True (a bool)", (lengths, True), (r"\bnum_parts\b",)),
        bad("block_size = 0", (lengths, 4, 0), (r"\bblock_size\b",)),
        bad("fixed_cost = -1", (lengths, 4, 64, -1), (r"\bfixed_cost\b",)),
        bad("cache_seqlens of dtype float32", (lengths.float(), 4), (r"\bcache_seqlens\b",)),
        bad("a negative length", (torch.tensor([5, -3], dtype=torch.int32), 4), (r"\bcache_seqlens\b",)),
    ]
    return rejects_bad_input(ctx, cases, ("cover", "order", "cost_bound"), "bad arguments raise ValueError naming them",
                    hint="check each argument first and raise ValueError naming it, e.g. "
                         "ValueError(f\"num_parts must be an int >= 1, got {num_parts!r}\")")
