"""Timing checks: the student's time over the reference solution's, same process,
same device, interleaved, after warm-up, median of repeats with CUDA events.

`time_interleaved` runs inside the child (it executes student code); the parent's
`timing_check` only turns the two medians into a verdict. A kernel is timed only
after its correctness checks passed in the same run: a fast wrong answer earns
nothing. Timing on the Triton interpreter is never graded (the check needs a GPU).
"""

from __future__ import annotations

import dataclasses

from grader.child.measure import attention_flops
from grader.results import FAILED, NOT_VERIFIED, PASSED

TIMING_CALL_TIMEOUT_S = 600  # compiles and autotunes both kernels before timing


def timing_check(ctx, fn: str, prerequisites: tuple[str, ...] = ()):
    """Parent side: ask the child to time, then compare the ratio with course.toml's."""
    spec = ctx.check
    if not ctx.timing:
        return ctx.result(NOT_VERIFIED, "timing skipped (--no-timing)")
    unmet = [c for c in prerequisites if ctx.earlier.get(c) is None or ctx.earlier[c].status != PASSED]
    if unmet:
        return ctx.result(FAILED, f"not timed: the correctness checks {', '.join(unmet)} must pass first")
    shape = dataclasses.asdict(spec.bench)
    call = ctx.student.request({"op": "time", "fn": fn, "reference_path": str(ctx.reference_path), "shape": shape,
                                "device": ctx.device, "warmup": 3, "repeats": 20}, timeout=TIMING_CALL_TIMEOUT_S)
    ctx.tick()
    if not call.ok:
        from grader.checks.base import call_failure, outcome_result

        return outcome_result(ctx, call_failure(call, fn))
    t_student, t_ref = call.extra["t_student"], call.extra["t_reference"]
    flops = attention_flops(shape["batch"], shape["heads"], shape["n"], shape["head_dim"], shape["causal"])
    ratio = t_student / t_ref
    summary = (f"{fn} {t_student:.3f} ms ({flops / t_student / 1e9:.0f} TFLOP/s), reference {t_ref:.3f} ms "
               f"({flops / t_ref / 1e9:.0f} TFLOP/s) on {_describe(shape)}: ratio {ratio:.2f}, "
               f"allowed {spec.max_ratio:.2f}")
    if ratio <= spec.max_ratio:
        return ctx.result(PASSED, summary)
    return ctx.result(FAILED, summary, measured=ratio, allowed=spec.max_ratio,
                      hint="profile with `course bench`; usual suspects: BLOCK sizes, num_warps/num_stages, "
                           "masks on every block instead of only the boundary ones, exp instead of exp2")


def _describe(shape: dict) -> str:
    return (f"b={shape['batch']} h={shape['heads']} n={shape['n']} d={shape['head_dim']} {shape['dtype']}"
            f"{' causal' if shape['causal'] else ''}")
