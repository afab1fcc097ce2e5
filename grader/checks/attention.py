"""Judging any function with the course's attention contract (levels 1-3).

One judge serves naive, tiled, Triton and CUDA attention: call the student on a
case's tensors, then check what came back against the float64 oracle under the
tolerance policy, plus the rules every attention function shares (inputs not
modified, no banned op) and the exercise's own structural *rules* (Level 2: no
``Nq x Nk`` intermediate, the loop order, a Triton kernel of the student's ran).

A rule reads the op recorder's report, which student code could switch off: it
may reject or explain, never award. So rules run only once the values are right,
and a check made of rules passes only with right results.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

from grader import oracle
from grader.checks.base import Context, Outcome, call_failure
from grader.isolation import CallResult
from grader.diagnose import attention_hint
from grader.inputs import DTYPES, AttentionCase
from grader.results import FAILED
from grader.tolerance import compare, naive_attention_in_dtype

ARG_NAMES = ("q", "k", "v")

# A structural rule: (case, the student's call) -> why it fails, or None.
Rule = Callable[[AttentionCase, CallResult], "Outcome | None"]


def banned_outcome(fn: str, banned: dict[str, str]) -> Outcome:
    calls = ", ".join(sorted(set(banned.values())))
    return Outcome(FAILED, f"{fn} calls {calls}, which this exercise asks you to write yourself",
                   hint="compute the max, the exponentials and the normaliser with elementary ops")


def modified_outcome(fn: str, indices: list[int], names=ARG_NAMES) -> Outcome:
    which = ", ".join(names[i] if i < len(names) else f"argument {i}" for i in indices)
    return Outcome(FAILED, f"{fn} modified its input {which} in place",
                   hint="never write into an input: scale a copy (q * scale), not q.mul_(scale)")


def unpack_pair(fn: str, value, what: str = "(out, lse)") -> tuple[object, object] | Outcome:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        return Outcome(FAILED, f"{fn} must return a pair {what}, got {type(value).__name__}")
    return value[0], value[1]


def size_limit(case: AttentionCase) -> int:
    """Level 2's rule: no intermediate of B*Hq*Nq*Nk/2 elements or more."""
    return case.batch * case.heads_q * case.n_q * case.n_k // 2


def size_rule(fn: str) -> Rule:
    """Level 2: the Nq x Nk score matrix (or a mask that size) is never materialised."""

    def rule(case: AttentionCase, call: CallResult) -> Outcome | None:
        report = call.report
        if report.largest_numel < size_limit(case):
            return None
        return Outcome(
            FAILED,
            f"{fn} built a tensor of shape {list(report.largest_shape)} ({report.largest_numel} elements, "
            f"from aten.{report.largest_op}); the limit is B*Hq*Nq*Nk/2 = {size_limit(case)}",
            hint="the Nq x Nk score matrix (or a full-size mask) is materialised; compute scores, masks "
                 "and probabilities one [block_m, block_n] tile at a time",
        )

    return rule


def attention_judge(ctx: Context, fn: str, *, banned: dict[str, str] | None = None, requires: Sequence[Rule] = (),
                    rules: Sequence[Rule] = (), block_guesses: tuple[int, ...] = ()):
    """Judge one case: the call, the shared rules, ``requires`` (what must hold
    before the values mean anything: the Triton answer came from a kernel), the
    values against the oracle, then ``rules``. ``block_guesses``: block sizes the
    diagnosis tries for a kernel that does not take them as arguments."""

    def judge(case: AttentionCase) -> Outcome | None:
        q, k, v = case.tensors()
        call = ctx.student.call(fn, (q, k, v), case.kwargs(), device=ctx.device, banned=banned)
        failure = call_failure(call, fn)
        if failure is not None:
            return failure
        if call.report.banned:
            return banned_outcome(fn, call.report.banned)
        if call.modified:
            return modified_outcome(fn, call.modified)
        for rule in requires:
            outcome = rule(case, call)
            if outcome is not None:
                return outcome
        pair = unpack_pair(fn, call.value)
        if isinstance(pair, Outcome):
            return pair
        got_out, got_lse = pair
        scale = 1.0 / math.sqrt(case.head_dim) if case.softmax_scale is None else case.softmax_scale
        expected = oracle.attention(q, k, v, case.causal, case.softmax_scale)
        baseline = naive_attention_in_dtype(q, k, v, scale, oracle.visible_keys(case.n_q, case.n_k, case.causal))
        devices = call.devices + [None, None]
        tol = ctx.tolerance
        mismatch = compare("out", got_out, expected[0], want_dtype=DTYPES[case.dtype], dtype=case.dtype,
                           tol=tol, baseline=baseline[0], device=ctx.device, got_device=devices[0]) or compare(
            "lse", got_lse, expected[1], want_dtype=torch.float32, dtype=case.dtype, tol=tol,
            baseline=baseline[1], device=ctx.device, got_device=devices[1])
        if mismatch is not None:
            hint = attention_hint(case, (q, k, v), got_out, got_lse, mismatch, expected, baseline, tol,
                                  block_guesses)
            return Outcome(FAILED, mismatch.message, hint=hint, measured=mismatch.measured, allowed=mismatch.allowed)
        for rule in rules:
            outcome = rule(case, call)
            if outcome is not None:
                return outcome
        return None

    return judge
