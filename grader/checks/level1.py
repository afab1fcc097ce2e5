"""Level 1 checks: naive attention, safe and online softmax, merging partial states."""

from __future__ import annotations

import torch
from grader import oracle
from grader.checks.attention import attention_judge, banned_outcome, modified_outcome, unpack_pair
from grader.checks.base import (Context, Outcome, call_failure, check, run_cases, run_examples,
                                run_examples_then_batteries)
from grader.inputs import (DTYPES, AttentionBounds, MergeCase, SoftmaxCase, attention_batteries, attention_cases,
                           merge_cases, softmax_cases)
from grader.results import FAILED
from grader.child.recorder import SDPA, SOFTMAX_FAMILY
from grader.tolerance import compare, naive_softmax_in_dtype

NAIVE_BOUNDS = AttentionBounds(head_dims=(16, 40, 64), max_len=160)


@check("level1.naive_attention", "oracle")
def naive_attention_matches_oracle(ctx: Context):
    judge = attention_judge(ctx, "naive_attention", banned={**SOFTMAX_FAMILY, **SDPA})
    return run_examples_then_batteries(ctx, attention_cases(NAIVE_BOUNDS), judge, attention_batteries(NAIVE_BOUNDS))


# ----------------------------------------------------------------------------- softmax


def _softmax_hint(case: SoftmaxCase, kind: str, online: bool) -> str:
    if kind in ("nan", "inf") and case.masked and not case.extreme:
        return ("a -inf entry produced NaN: exp(-inf - m) is 0, but when a whole block is -inf its max is "
                "-inf and (-inf) - (-inf) is NaN; guard the rescale for an all -inf block")
    if kind in ("nan", "inf") and case.extreme:
        return "exp overflowed: subtract the row max before exponentiating (logits here reach +-1e4)"
    if kind == "dtype":
        return "return the result in x.dtype (compute in float32 inside if you like)"
    if online and case.cols > case.block_size:
        return ("wrong only once a row spans several blocks: when the running max grows, rescale the "
                "normaliser, l = l * exp(m_old - m_new) + sum(exp(x_blk - m_new))")
    return ""


def _softmax_judge(ctx: Context, fn: str, *, enforce_blocks: bool = False):
    online = fn == "online_softmax"

    def judge(case: SoftmaxCase) -> Outcome | None:
        x = case.tensor()
        kwargs = {"block_size": case.block_size} if online else {}
        call = ctx.student.call(fn, (x,), kwargs, device=ctx.device, banned=SOFTMAX_FAMILY)
        failure = call_failure(call, fn)
        if failure is not None:
            return failure
        if call.report.banned:
            return banned_outcome(fn, call.report.banned)
        if call.modified:
            return modified_outcome(fn, call.modified, names=("x",))
        if enforce_blocks and call.report.widest_reduction > case.block_size:
            return Outcome(
                FAILED,
                f"{fn} reduced {call.report.widest_reduction} elements at once (aten.{call.report.widest_op}); "
                f"block_size is {case.block_size}",
                hint="a reduction saw a whole row: find the max and the normaliser block by block, "
                     "carrying the running m and l between blocks",
            )
        expected = oracle.softmax(x)
        mismatch = compare("softmax", call.value, expected, want_dtype=x.dtype, dtype=case.dtype,
                           tol=ctx.tolerance, baseline=naive_softmax_in_dtype(x),
                           device=ctx.device, got_device=(call.devices or [None])[0])
        if mismatch is None:
            return None
        return Outcome(FAILED, mismatch.message, hint=_softmax_hint(case, mismatch.kind, online),
                       measured=mismatch.measured, allowed=mismatch.allowed)

    return judge


@check("level1.softmax", "safe_softmax")
def safe_softmax_matches_oracle(ctx: Context):
    return run_examples(ctx, softmax_cases(), _softmax_judge(ctx, "safe_softmax"))


@check("level1.softmax", "online_softmax")
def online_softmax_matches_oracle(ctx: Context):
    return run_examples(ctx, softmax_cases(), _softmax_judge(ctx, "online_softmax"))


@check("level1.softmax", "online_blockwise")
def online_softmax_is_blockwise(ctx: Context):
    """Rows of at least four blocks; no reduction may see more than one block."""
    cases = [
        SoftmaxCase(rows=3, cols=4 * block + extra, dtype=dtype, block_size=block, scale=4.0,
                    masked=masked, extreme=False, seed=17 + block)
        for block, extra, dtype, masked in ((16, 5, "float32", False), (32, 0, "float16", True),
                                            (128, 77, "bfloat16", False))
    ]
    return run_cases(ctx, cases, _softmax_judge(ctx, "online_softmax", enforce_blocks=True),
                     "no reduction saw more than block_size elements of a row, and the result is right")


# ----------------------------------------------------------------------------- merge

EXP_LIMIT = 87.0  # float32 exp(x) is inf past 88.7 and leaves the normal range below -87.3


def _merge_stats_f32(m_a, l_a, m_b, l_b):
    """The merge of softmax states in float32, for the rounding baseline."""
    m = torch.maximum(m_a, m_b)
    m_safe = torch.where(torch.isfinite(m), m, 0.0)
    return m, l_a * torch.exp(m_a - m_safe) + l_b * torch.exp(m_b - m_safe)


def _merge_states_f32(o_a, lse_a, o_b, lse_b, dtype: torch.dtype):
    """The merge of attention states in float32, o rounded to ``dtype``: the rounding
    baseline. A float32 lse in the thousands is only good to ~1e-4, and the weights
    exp(lse_a - lse) carry that error into o, so rounding the oracle is not enough."""
    m = torch.maximum(lse_a, lse_b)
    m_safe = torch.where(torch.isfinite(m), m, 0.0)
    lse = m_safe + torch.log(torch.exp(lse_a - m_safe) + torch.exp(lse_b - m_safe))
    lse_safe = torch.where(torch.isfinite(lse), lse, 0.0)[..., None]
    o = torch.exp(lse_a[..., None] - lse_safe) * o_a.float() + torch.exp(lse_b[..., None] - lse_safe) * o_b.float()
    return torch.where(torch.isfinite(lse)[..., None], o, 0.0).to(dtype), lse


def _call_pair(ctx: Context, fn: str, args, what: str):
    """Call ``fn`` expecting a pair; returns the pair or an Outcome."""
    call = ctx.student.call(fn, args, device=ctx.device)
    failure = call_failure(call, fn)
    if failure is not None:
        return failure
    if call.modified:
        return modified_outcome(fn, call.modified, names=("m_a", "l_a", "m_b", "l_b") if "stats" in fn
                                else ("o_a", "lse_a", "o_b", "lse_b"))
    return unpack_pair(fn, call.value, what)


def _merge_hint(kind: str, index, parts: dict[str, torch.Tensor]) -> str:
    """A hint from the failing row's inputs: ``parts`` are the per-row maxima or lse
    of both states ({"m_a": .., "m_b": ..} or {"lse_a": .., "lse_b": ..})."""
    if kind not in ("nan", "inf") or index is None:
        return ""
    a, b = parts
    row = tuple(index[: parts[a].dim()])
    values = {name: parts[name][row].item() for name in parts}
    finite = [abs(v) for v in values.values() if v != float("-inf")]
    if finite and max(finite) > EXP_LIMIT:
        shown = ", ".join(f"{name} = {v:.6g}" for name, v in values.items())
        return (f"exp overflowed or underflowed: row {list(row)} has {shown}, and float32 exp(x) is "
                f"inf past 88.7 (0 below -103); split-KV parts reach lse in the hundreds and thousands; "
                f"subtract the max before exponentiating: m = max({a}, {b}), weights exp({a} - m) and "
                f"exp({b} - m)")
    if kind == "nan":
        return ("NaN from an empty state: with m = -inf (or lse = -inf), exp(m_a - m) is "
                "exp(-inf - (-inf)) = NaN; merge against a safe max (0 where it is -inf)")
    return ""


def _compare_pair(ctx, names, got, expected, baselines, dtypes, parts) -> Outcome | None:
    for name, g, e, b, (want, label) in zip(names, got, expected, baselines, dtypes):
        mismatch = compare(name, g, e, want_dtype=want, dtype=label, tol=ctx.tolerance, baseline=b)
        if mismatch is not None:
            return Outcome(FAILED, mismatch.message, hint=_merge_hint(mismatch.kind, mismatch.index, parts),
                           measured=mismatch.measured, allowed=mismatch.allowed)
    return None


STATS = "merge_softmax_stats"
STATES = "merge_attention_states"
F32 = (torch.float32, "float32")


def _stats_parts(args) -> dict[str, torch.Tensor]:
    return {"m_a": args[0], "m_b": args[2]}


@check("level1.merge", "stats_oracle")
def merge_stats_matches_oracle(ctx: Context):
    def judge(case: MergeCase):
        args = case.stats()[:4]
        got = _call_pair(ctx, STATS, args, "(m, l)")
        if isinstance(got, Outcome):
            return got
        return _compare_pair(ctx, ("m", "l"), got, oracle.merge_softmax_stats(*args),
                             _merge_stats_f32(*args), (F32, F32), _stats_parts(args))

    return run_examples(ctx, merge_cases(), judge)


@check("level1.merge", "stats_properties")
def merge_stats_properties(ctx: Context):
    """Identity, commutativity, associativity, and two empty states -> (-inf, 0)."""

    def judge(case: MergeCase):
        m_a, l_a, m_b, l_b, m_c, l_c = case.stats()
        empty_m, empty_l = torch.full_like(m_a, float("-inf")), torch.zeros_like(l_a)
        results, inputs = {}, {}
        for label, args in (("a+empty", (m_a, l_a, empty_m, empty_l)), ("a+b", (m_a, l_a, m_b, l_b)),
                            ("b+a", (m_b, l_b, m_a, l_a)), ("b+c", (m_b, l_b, m_c, l_c)),
                            ("empty+empty", (empty_m, empty_l, empty_m, empty_l))):
            got = _call_pair(ctx, STATS, args, "(m, l)")
            if isinstance(got, Outcome):
                return got
            results[label], inputs[label] = got, args
        for label, args in (("(a+b)+c", (*results["a+b"], m_c, l_c)), ("a+(b+c)", (m_a, l_a, *results["b+c"]))):
            got = _call_pair(ctx, STATS, args, "(m, l)")
            if isinstance(got, Outcome):
                return got
            results[label], inputs[label] = got, args
        laws = (
            ("identity: merge(a, empty) must equal a", "a+empty", (m_a, l_a)),
            ("commutativity: merge(a, b) must equal merge(b, a)", "a+b", results["b+a"]),
            ("associativity: merge(merge(a, b), c) must equal merge(a, merge(b, c))", "(a+b)+c", results["a+(b+c)"]),
            ("two empty states must merge to (-inf, 0)", "empty+empty", (empty_m, empty_l)),
        )
        for law, label, want in laws:
            expected = tuple(t.double() for t in want)
            outcome = _compare_pair(ctx, ("m", "l"), results[label], expected, (None, None), (F32, F32),
                                    _stats_parts(inputs[label]))
            if outcome is not None:
                if outcome.status == FAILED:
                    outcome.summary = f"{law}: {outcome.summary}"
                return outcome
        return None

    return run_examples(ctx, merge_cases(), judge)


def _states_judge(ctx: Context, case: MergeCase, o_a, lse_a, o_b, lse_b, expected) -> Outcome | None:
    got = _call_pair(ctx, STATES, (o_a, lse_a, o_b, lse_b), "(o, lse)")
    if isinstance(got, Outcome):
        return got
    dtype = DTYPES[case.dtype]
    return _compare_pair(ctx, ("o", "lse"), got, expected, _merge_states_f32(o_a, lse_a, o_b, lse_b, dtype),
                         ((dtype, case.dtype), F32), {"lse_a": lse_a, "lse_b": lse_b})


@check("level1.merge", "states_oracle")
def merge_states_matches_oracle(ctx: Context):
    def judge(case: MergeCase):
        o_a, lse_a, o_b, lse_b = case.states()
        return _states_judge(ctx, case, o_a, lse_a, o_b, lse_b, oracle.merge_attention_states(o_a, lse_a, o_b, lse_b))

    return run_examples(ctx, merge_cases(), judge)


@check("level1.merge", "states_properties")
def merge_states_properties(ctx: Context):
    """Symmetry, an empty part (any finite o) is ignored, two empty parts give (0, -inf)."""

    def judge(case: MergeCase):
        o_a, lse_a, o_b, lse_b = case.states()
        empty = torch.full_like(lse_b, float("-inf"))
        laws = (
            ("commutativity: merge(b, a) must equal merge(a, b)", (o_b, lse_b, o_a, lse_a),
             oracle.merge_attention_states(o_a, lse_a, o_b, lse_b)),
            ("an empty part (lse = -inf, o arbitrary) must leave the other unchanged", (o_a, lse_a, o_b * 1e3, empty),
             oracle.merge_attention_states(o_a, lse_a, o_b, empty)),
            ("two empty parts must give o = 0, lse = -inf", (o_a, empty, o_b, empty),
             (torch.zeros_like(o_a, dtype=torch.float64), empty.double())),
        )
        for law, args, expected in laws:
            outcome = _states_judge(ctx, case, *args, expected)
            if outcome is not None:
                if outcome.status == FAILED:
                    outcome.summary = f"{law}: {outcome.summary}"
                return outcome
        return None

    return run_examples(ctx, merge_cases(), judge)
