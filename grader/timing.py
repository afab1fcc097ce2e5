"""Timing checks: the student's time over the reference solution's, measured by the
parent from outside both processes.

The reference solution runs in a process of its own, under the same guard as the
student's code, so student code can neither patch it nor its timer. Each process
makes the timed inputs itself from a seed the parent sends; every round the seed
changes (so a cached answer does not pay), and the parent times one request of
``CALLS_PER_REQUEST`` calls (each request ends with a device synchronisation) in
each process, alternating which goes first. The ratio of the medians is the
verdict. After the last round the student's answer on the current inputs comes
back and is checked against PyTorch's attention in float32, computed here.

A kernel is timed only after its correctness checks passed in the same run: a fast
wrong answer earns nothing. Timing on the Triton interpreter is never graded (the
check needs a GPU).
"""

from __future__ import annotations

import dataclasses
import statistics

from grader.child.measure import bench_inputs, bench_kwargs, bench_work
from grader.isolation import StudentProcess
from grader.results import FAILED, NOT_IMPLEMENTED, NOT_VERIFIED, PASSED

TIMING_CALL_TIMEOUT_S = 600  # compiles and autotunes both kernels before timing
WARMUP_CALLS = 3
ROUNDS = 9  # fresh inputs each round
CALLS_PER_REQUEST = 10  # the request's round trip (~0.1 ms) is then ~1% of a 1 ms kernel
ANSWER_TOLERANCE = 2e-2  # max |out - float32 attention| for fp16/bf16 outputs of O(1)


SLOW_HINT = ("profile with `course bench`; usual suspects: BLOCK sizes, num_warps/num_stages, masks on every "
             "block instead of only the boundary ones, exp instead of exp2")


def _expected(shape: dict, device: str, seed: int):
    """What a timed call must return (its first output), in float32 on ``device``."""
    import torch

    inputs = bench_inputs(shape, device, seed)
    if shape["kind"] == "mla_decode":
        from grader.oracle import paged_mla

        return paged_mla(*inputs, shape["head_dim_v"], causal=shape["causal"], dtype=torch.float32)[0]
    q, k, v = inputs
    return torch.nn.functional.scaled_dot_product_attention(q.float(), k.float(), v.float(),
                                                            is_causal=shape["causal"])


def timing_check(ctx, fn: str, prerequisites: tuple[str, ...] = (), slow_hint: str = SLOW_HINT):
    """Time the student against the reference solution, both from outside;
    ``slow_hint`` is what a failure suggests (the default speaks of Triton)."""
    from grader.checks.base import call_failure, outcome_result

    spec = ctx.check
    if not ctx.timing:
        return ctx.result(NOT_VERIFIED, "timing skipped (--no-timing)")
    unmet = [c for c in prerequisites if ctx.earlier.get(c) is None or ctx.earlier[c].status != PASSED]
    if unmet:
        # a stub stays "not implemented" here too; anything else that did not pass is a failure to time
        status = NOT_IMPLEMENTED if all(ctx.earlier.get(c) is not None and ctx.earlier[c].status == NOT_IMPLEMENTED
                                        for c in unmet) else FAILED
        return ctx.result(status, f"not timed: the correctness checks {', '.join(unmet)} must pass first")
    shape = dataclasses.asdict(spec.bench)
    with StudentProcess(ctx.reference_path, "course_reference", env={}, root=ctx.manifest.root,
                        call_timeout=TIMING_CALL_TIMEOUT_S, import_timeout=ctx.manifest.course.import_timeout_s,
                        device=ctx.device) as reference:
        procs = {"student": ctx.student, "reference": reference}

        def run(name: str, message: dict):
            call = procs[name].request(message, timeout=TIMING_CALL_TIMEOUT_S)
            if not call.ok and name == "reference":
                raise RuntimeError(f"the reference solution failed to run: {call.status}: {call.error}")
            return call

        repeat = {"op": "repeat", "fn": fn, "kwargs": bench_kwargs(shape)}
        times: dict[str, list[float]] = {name: [] for name in procs}
        for round_ in range(ROUNDS + 1):
            seed = ctx.seed * 1000 + round_
            for name in procs:
                call = run(name, {"op": "prepare", "shape": shape, "device": ctx.device, "seed": seed})
                if not call.ok:
                    return outcome_result(ctx, call_failure(call, fn))
            order = list(procs) if round_ % 2 == 0 else list(reversed(procs))
            for name in order:
                calls = WARMUP_CALLS if round_ == 0 else CALLS_PER_REQUEST
                call = run(name, {**repeat, "times": calls})
                if not call.ok:
                    return outcome_result(ctx, call_failure(call, fn))
                if round_ > 0:  # round 0 compiles, autotunes and warms caches
                    times[name].append(1e3 * call.seconds / calls)
            ctx.tick()
        answer = run("student", {**repeat, "times": 1, "keep_output": True})
    if not answer.ok:
        return outcome_result(ctx, call_failure(answer, fn))
    got = answer.value[0] if isinstance(answer.value, (tuple, list)) and answer.value else None
    expected = _expected(shape, ctx.device, seed)
    if got is None or not hasattr(got, "shape") or tuple(got.shape) != tuple(expected.shape) \
            or not float((got.to(expected.device).float() - expected).abs().max()) <= ANSWER_TOLERANCE:
        return ctx.result(FAILED, f"{fn}'s answer during timing was wrong on fresh inputs ({_describe(shape)})",
                          hint="the timed calls must compute the answer for the inputs they get; a cached or "
                               "partial result does not count")
    t_student, t_ref = statistics.median(times["student"]), statistics.median(times["reference"])
    flops, nbytes = bench_work(shape)
    ratio = t_student / t_ref

    def rate(ms: float) -> str:
        memory = f", {nbytes / ms / 1e6:.0f} GB/s" if shape["kind"] == "mla_decode" else ""
        return f"{flops / ms / 1e9:.0f} TFLOP/s{memory}"

    summary = (f"{fn} {t_student:.3f} ms ({rate(t_student)}), reference {t_ref:.3f} ms ({rate(t_ref)}) on "
               f"{_describe(shape)}: ratio {ratio:.2f}, allowed {spec.max_ratio:.2f} (timed from outside both "
               f"processes)")
    if ratio <= spec.max_ratio:
        return ctx.result(PASSED, summary)
    return ctx.result(FAILED, summary, measured=ratio, allowed=spec.max_ratio, hint=slow_hint)


def _describe(shape: dict) -> str:
    causal = " causal" if shape["causal"] else ""
    if shape["kind"] == "mla_decode":
        return (f"b={shape['batch']} s_q={shape['s_q']} h_q={shape['heads']} h_kv=1 L={shape['n']} "
                f"d={shape['head_dim']} dv={shape['head_dim_v']} block_size={shape['block_size']} "
                f"{shape['dtype']}{causal}")
    return f"b={shape['batch']} h={shape['heads']} n={shape['n']} d={shape['head_dim']} {shape['dtype']}{causal}"
