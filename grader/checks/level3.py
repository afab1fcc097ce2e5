"""Level 3 checks: the CUDA FlashAttention-2 forward and the roofline model.

The CUDA file is built by nvcc in this (the parent) process, through kernels/builder.py:
the `compiles` check builds it directly, and the student's process of the other
checks receives the built module (grader/isolation.py), which it loads and calls
through its Python side, grader/child/native.py. The values are judged exactly as
Level 1-2's attention functions are (grader/checks/attention.py).
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import shutil
import subprocess
from pathlib import Path

from hypothesis import strategies as st

from grader import oracle
from grader.checks.attention import attention_judge
from grader.checks.base import (
    Context,
    Outcome,
    call_failure,
    check,
    run_cases,
    run_examples,
)
from grader.checks.bad_input import BadCall, rejects_bad_input
from grader.child.sanitize import CASES as SANITIZE_CASES
from grader.diagnose import KERNEL_BLOCKS
from grader.inputs import AttentionBounds, AttentionCase, attention_cases
from grader.results import FAILED, NOT_IMPLEMENTED, NOT_VERIFIED, PASSED
from grader.timing import timing_check

FN = "flash_attn_cuda"
CUDA_BOUNDS = AttentionBounds(dtypes=("float16", "bfloat16"), head_dims=(64, 128), equal_head_dims=True,
                              max_len=700, max_batch_heads=8)
SLOW_HINT = ("a scalar kernel is correct but far from the tensor cores: use mma.sync with ldmatrix, keep P in "
             "registers, swizzle shared memory, double-buffer K/V with cp.async; `course bench level3` "
             "compares you with the reference")


# ----------------------------------------------------------------------------- the CUDA kernel


def _kernel_count(module: Path) -> int | None:
    """How many __global__ functions the built module holds (nvcc gives each a host
    stub named __device_stub__...); None where binutils' nm is missing."""
    nm = shutil.which("nm")
    if nm is None:
        return None
    symbols = subprocess.run([nm, str(module)], capture_output=True, text=True, check=False).stdout
    return len({line.split()[-1] for line in symbols.splitlines() if "__device_stub__" in line})


@check("level3.flash_fwd", "compiles")
def cuda_compiles(ctx: Context):
    """nvcc builds the file for sm_80 and sm_90 with the course's binding, here in the
    parent, on any machine with nvcc (no GPU needed). Worth no points: compiling is
    the gate to the GPU checks, not an achievement; the untouched stub (no kernel)
    stays 'not implemented'."""
    from kernels.builder import BuildError, build, nvcc_path

    path = Path(ctx.student.path)
    if nvcc_path() is None:
        return ctx.result(NOT_VERIFIED, "needs nvcc (the CUDA toolkit); none on PATH or in /usr/local/cuda/bin")
    try:
        built = build(path, ctx.student.source)
    except BuildError as err:
        first = err.errors[0] if err.errors else err.summary
        return ctx.result(FAILED, f"{path.name} does not build: {first}", details=err.log or err.summary,
                          hint="fix the first error the compiler names (file:line), then rebuild")
    kernels = _kernel_count(built.path)
    if kernels == 0:
        return ctx.result(NOT_IMPLEMENTED, f"{path.name} compiles but defines no __global__ kernel yet")
    how = "cache hit" if built.cached else f"built in {built.seconds:.1f} s"
    return ctx.result(PASSED, f"{path.name} compiles for sm_80 and sm_90 ({how}"
                              f"{'' if kernels is None else f', {kernels} kernel' + 's' * (kernels > 1)})")


@check("level3.flash_fwd", "oracle")
def cuda_matches_oracle(ctx: Context):
    # the kernel's tile sizes are its own: the hints try the usual ones (a dropped or
    # unmasked tail of keys is named with them)
    return run_examples(ctx, attention_cases(CUDA_BOUNDS), attention_judge(ctx, FN, block_guesses=KERNEL_BLOCKS))


# Hand-picked shapes hypothesis may not draw. The first: Nk = 65 without causal and
# with small scores, so keys past Nk left unmasked in a padded tile carry real weight
# (with large logits they vanish under the row max, and causal masks them anyway).
# Then causal with Nq > Nk (empty rows) and Nq < Nk, single rows and keys, transposed
# views with grouped heads, lengths of a few thousand, and last v = randn + 4 over 4096
# keys: there O sums to ~4 l, and a kernel that keeps O in 16 bits misses by ~0.017
# where float32 accumulation stays within 0.002 (tests/test_level3_edge_cases.py);
# with v centred on 0 the two are indistinguishable.
EDGE_CASES = [
    AttentionCase(1, 2, 1, 77, 65, 64, 64, "float16", False, None, False, 0.25, 300),
    AttentionCase(1, 2, 1, 300, 97, 64, 64, "float16", True, None, False, 1.0, 301),
    AttentionCase(2, 4, 2, 97, 1000, 128, 128, "bfloat16", True, None, False, 1.0, 302),
    AttentionCase(1, 2, 2, 1, 1, 64, 64, "float16", True, None, False, 1.0, 303),
    AttentionCase(1, 3, 1, 1, 513, 128, 128, "float16", False, 0.3, True, 4.0, 304),
    AttentionCase(2, 6, 2, 129, 257, 128, 128, "bfloat16", False, None, True, 4.0, 305),
    AttentionCase(1, 2, 1, 2049, 2049, 128, 128, "float16", True, None, True, 1.0, 306),
    AttentionCase(1, 3, 1, 1025, 3001, 64, 64, "float16", False, None, False, 1.0, 307),
    AttentionCase(1, 2, 1, 128, 4096, 128, 128, "float16", False, None, False, 1.0, 308, v_shift=4.0),
]


ACCUMULATOR_HINT = ("every earlier case passed (long rows of v centred on 0 included), this one has outputs ~4 "
                    "over 4096 keys: O (or P V) is accumulated in 16 bits, which loses ~1e-3 of its size at every "
                    "tile; keep every accumulator in float32 registers (mma.sync with .f32 accumulators) and round "
                    "once, when storing out")


def _edge_judge(ctx: Context):
    """The attention judge; a failure on the v + 4 case, which the cases stop at only
    when every other passed (a rescale bug fails the long centred ones first), gets the
    hint that case exists for: the diagnosis cannot tell precision from a rescale bug."""
    judge = attention_judge(ctx, FN, block_guesses=KERNEL_BLOCKS)

    def judged(case: AttentionCase) -> Outcome | None:
        outcome = judge(case)
        if outcome is not None and outcome.status == FAILED and case.v_shift:
            outcome.hint = ACCUMULATOR_HINT
        return outcome

    return judged


@check("level3.flash_fwd", "edge_cases")
def cuda_edge_cases(ctx: Context):
    return run_cases(ctx, EDGE_CASES, _edge_judge(ctx),
                     "causal with Nq > Nk and Nq < Nk, single rows, transposed GQA views, lengths up to 4096 and "
                     "outputs far from 0 agree with the oracle")


@check("level3.flash_fwd", "speed")
def cuda_speed(ctx: Context):
    return timing_check(ctx, FN, prerequisites=("oracle", "edge_cases"), slow_hint=SLOW_HINT)


# ----------------------------------------------------------------------------- compute-sanitizer

SANITIZER_TIMEOUT_S = 300  # per tool; the instrumented runs take seconds, torch's start included
SANITIZER_ERRORS_EXIT = 86  # compute-sanitizer --error-exitcode: it found an error
# memcheck's padding after every allocation (PyTorch's caching allocator is switched off,
# so each tensor is an allocation of its own): a read up to a whole tile of 128 rows of
# D = 128 fp16 past the end of q, k or v lands in padding, not in a neighbouring tensor.
SANITIZER_PADDING_BYTES = 128 * 128 * 2
SANITIZER_TOOLS = {
    "memcheck": ["--padding", str(SANITIZER_PADDING_BYTES), "--print-limit", "10"],
    "racecheck": ["--racecheck-report", "analysis", "--print-limit", "10"],
}
SANITIZER_HINTS = {
    "read": "the kernel reads past the end of q, k or v: the rows of the last partial tile beyond Nq or Nk must "
            "not be loaded; predicate them (cp.async with src-size 0 zero-fills the row) and mask their scores "
            "to -inf",
    "write": "the kernel writes past the end of out or lse: store only the rows < Nq of the last partial tile of "
             "queries (predicate the stores)",
    "race": "a data race on shared memory: a __syncthreads() is missing, either between the writes of a tile "
            "(cp.async, after cp.async.wait_group) and other warps' reads of it, or between the last reads of a "
            "stage and its refill; the header's barrier list says which each one protects",
}
_SUMMARY = {"memcheck": re.compile(r"ERROR SUMMARY: (\d+) error"),
            "racecheck": re.compile(r"RACECHECK SUMMARY: (\d+) hazard")}


def sanitizer_path() -> str | None:
    """compute-sanitizer from PATH, beside nvcc, or CUDA's default place."""
    from kernels.builder import nvcc_path

    nvcc = nvcc_path()
    candidates = [shutil.which("compute-sanitizer"), nvcc and str(Path(nvcc).parent / "compute-sanitizer"),
                  "/usr/local/cuda/bin/compute-sanitizer"]
    return next((c for c in candidates if c and os.access(c, os.X_OK)), None)


@dataclasses.dataclass
class SanitizerVerdict:
    clean: bool
    summary: str
    hint: str = ""


def read_sanitizer(tool: str, code: int | None, output: str) -> SanitizerVerdict:
    """What a compute-sanitizer run says. Clean only when the sanitizer exited 0 and
    printed its summary with no error (the program under it shares its output, so a
    printed summary alone proves nothing; the exit status comes from the sanitizer)."""
    if code is None:
        return SanitizerVerdict(False, f"compute-sanitizer {tool} did not finish within {SANITIZER_TIMEOUT_S} s "
                                       f"on the small cases", "an infinite loop, or a barrier some threads never reach")
    count = _count(tool, output)
    if tool == "racecheck" and (code == SANITIZER_ERRORS_EXIT or count):
        race = re.search(r"Race reported between (\w+) access at (.*)\n=+\s+and (\w+) access at (.*)", output)
        where = f": a {race[1]} in {_frame(race[2])} races with a {race[3]} in {_frame(race[4])}" if race else ""
        return SanitizerVerdict(False, f"compute-sanitizer racecheck reports {count or 'some'} shared-memory "
                                       f"hazard{'s' * (count != 1)}{where}", SANITIZER_HINTS["race"])
    if code == SANITIZER_ERRORS_EXIT:
        # the first error's report: up to the line of '=' alone that ends it
        first = next((block for block in re.split(r"\n=+[ \t]*(?=\n)", output) if "Invalid __global__" in block), "")
        access = re.search(r"Invalid __global__ (read|write) of size (\d+) bytes?\n=+\s+at (.*)", first)
        if access is None:
            return SanitizerVerdict(False, f"compute-sanitizer memcheck finds memory errors ({count or 'some'})")
        callers = [_frame(line) for line in re.findall(r"Device Frame: (.*)", first)]
        past = re.search(r"is (\d+) bytes? after the nearest allocation at \S+ of size ([\d,]+) bytes", first)
        return SanitizerVerdict(
            False, f"compute-sanitizer memcheck: an out-of-bounds global {access[1]} of {access[2]} bytes in "
                   f"{_frame(access[3])}{', called from ' + ' and '.join(callers) if callers else ''}"
                   f"{f', {past[1]} bytes past the end of a {past[2]}-byte tensor' if past else ''} "
                   f"({count or 'some'} errors in all)", SANITIZER_HINTS[access[1]])
    if code != 0:
        return SanitizerVerdict(False, f"the kernel failed under compute-sanitizer {tool} (exit status {code})",
                                "run the small cases yourself: `course repro` of the failing check, or "
                                "compute-sanitizer python your_script.py")
    if count != 0:  # None: no summary printed, 0: a clean one
        return SanitizerVerdict(False, f"compute-sanitizer {tool} printed no clean summary")
    return SanitizerVerdict(True, f"{tool} clean")


def _frame(text: str) -> str:
    """'cp_async_16 (flash_fwd.cu:73)' from a sanitizer's 'void <unnamed>::cp_async_16(...)+0x1640 in
    /path/flash_fwd.cu:73'."""
    name = re.match(r"(?:void\s+)?([\w:]+)", text.replace("<unnamed>::", "").strip())
    place = re.search(r" in (?:\S*/)?(\S+:\d+)\s*(?:\[|$)", text)
    return f"{name[1].split('::')[-1] if name else '?'}{f' ({place[1]})' if place else ''}"


def _count(tool: str, output: str) -> int | None:
    """The number in the sanitizer's last summary line, None when it printed none."""
    found = _SUMMARY[tool].findall(output)
    return int(found[-1]) if found else None


@check("level3.flash_fwd", "sanitizer")
def cuda_sanitizer(ctx: Context):
    """compute-sanitizer memcheck and racecheck watch the kernel, from a process of their
    own, on small causal cases with ragged tails (grader/child/sanitize.py): a missing
    __syncthreads or an unpredicated tail load may give right answers on every case and
    still be a bug, and the sanitizer sees it. Pays only once oracle and edge_cases
    passed (an empty kernel has no races); it runs when they failed too, to explain."""
    earlier = [ctx.earlier.get(name) for name in ("oracle", "edge_cases")]
    if any(result is None or result.status == NOT_IMPLEMENTED for result in earlier):
        return ctx.result(NOT_IMPLEMENTED, "not checked: the kernel is not implemented yet")
    tool_path = sanitizer_path()
    if tool_path is None:
        return ctx.result(NOT_VERIFIED, "needs compute-sanitizer (the CUDA toolkit's); none on PATH, beside nvcc "
                                        "or in /usr/local/cuda/bin")
    for tool, options in SANITIZER_TOOLS.items():
        watcher = [tool_path, "--tool", tool, "--error-exitcode", str(SANITIZER_ERRORS_EXIT), *options]
        try:
            code, output = ctx.student.run_tool(watcher, "grader.child.sanitize", SANITIZER_TIMEOUT_S,
                                                env={"PYTORCH_NO_CUDA_MEMORY_CACHING": "1"})
        except RuntimeError as err:  # the build failed: `compiles` says why
            return ctx.result(FAILED, f"not checked: the file does not build ({str(err).splitlines()[0]})")
        verdict = read_sanitizer(tool, code, output)
        if not verdict.clean:
            return ctx.result(FAILED, verdict.summary, hint=verdict.hint, details=output)
    unmet = [name for name, result in zip(("oracle", "edge_cases"), earlier) if result.status != PASSED]
    if unmet:
        return ctx.result(FAILED, f"memcheck and racecheck find nothing, but the points need {' and '.join(unmet)} "
                                  f"to pass too")
    return ctx.result(PASSED, f"compute-sanitizer memcheck and racecheck find no error on {len(SANITIZE_CASES)} "
                              f"small cases (ragged tails, causal with empty rows, grouped heads, a transposed view)")


# ----------------------------------------------------------------------------- roofline


@dataclasses.dataclass(frozen=True)
class ShapeCase:
    batch: int
    heads_q: int
    heads_kv: int
    n_q: int
    n_k: int
    head_dim: int
    head_dim_v: int
    dtype_bytes: int
    causal: bool

    def describe(self) -> str:
        return (f"batch={self.batch} heads_q={self.heads_q} heads_kv={self.heads_kv} n_q={self.n_q} n_k={self.n_k} "
                f"head_dim={self.head_dim} head_dim_v={self.head_dim_v} dtype_bytes={self.dtype_bytes} "
                f"causal={self.causal}")


@st.composite
def shape_cases(draw) -> ShapeCase:
    heads_kv = draw(st.integers(1, 8))
    lengths = st.one_of(st.sampled_from((1, 2, 97, 1024, 4096, 131072)), st.integers(1, 200_000))
    return ShapeCase(batch=draw(st.integers(1, 64)), heads_q=heads_kv * draw(st.sampled_from((1, 2, 4, 8))),
                     heads_kv=heads_kv, n_q=draw(lengths), n_k=draw(lengths),
                     head_dim=draw(st.sampled_from((64, 128, 192, 576))),
                     head_dim_v=draw(st.sampled_from((64, 128, 512))), dtype_bytes=draw(st.sampled_from((1, 2, 4))),
                     causal=draw(st.booleans()))


def _flops_args(case: ShapeCase) -> tuple:
    return case.batch, case.heads_q, case.n_q, case.n_k, case.head_dim, case.head_dim_v


def _bytes_args(case: ShapeCase) -> tuple:
    return (case.batch, case.heads_q, case.heads_kv, case.n_q, case.n_k, case.head_dim, case.head_dim_v,
            case.dtype_bytes)


def _pairs(n_q: int, n_k: int, causal: str) -> int:
    """(query, key) pairs per head under a wrong causal reading, for the diagnosis."""
    if causal == "top-left":  # query i sees keys 0..i
        return sum(min(i + 1, n_k) for i in range(n_q))
    return n_q * n_k // 2  # "half"


def _flops_diagnosis(case: ShapeCase, got) -> str:
    per_pair = 2 * (case.head_dim + case.head_dim_v) * case.batch * case.heads_q
    if case.causal and got == per_pair * case.n_q * case.n_k:
        return "causal=True counted every pair: only pairs with j <= i + n_k - n_q are computed"
    if case.causal and got == per_pair * _pairs(case.n_q, case.n_k, "top-left"):
        return ("causal aligned to the top-left corner (query i sees keys 0..i); the course aligns it to the "
                "bottom-right: query i sees key j iff j <= i + n_k - n_q")
    if case.causal and got == per_pair * _pairs(case.n_q, case.n_k, "half"):
        return ("causal counted as half of the pairs; the exact count under bottom-right alignment is "
                "sum over rows i of clamp(i + n_k - n_q + 1, 0, n_k)")
    if got == 4 * case.head_dim * case.batch * case.heads_q * oracle.visible_pairs(case.n_q, case.n_k, case.causal):
        return "4 * head_dim per pair assumes head_dim_v == head_dim: QK^T costs 2 * head_dim, PV 2 * head_dim_v"
    return "2 * (head_dim + head_dim_v) FLOPs per visible (query, key) pair, per batch and query head"


def _bytes_diagnosis(case: ShapeCase, got) -> str:
    b, hq, hkv, nq, nk, d, dv, e = _bytes_args(case)
    right = oracle.attention_min_bytes(*_bytes_args(case))
    if got == right - 4 * b * hq * nq:
        return "the float32 lse (4 bytes per batch, query head and row) is written too"
    if got == right + (hq - hkv) * b * nk * (d + dv) * e:
        return "K and V are read once per kv head (grouped-query attention shares them), not once per query head"
    if got == right - b * hq * nq * dv * e:
        return "out is written once: count its bytes"
    return "q, k, v read once, out written once in dtype_bytes per element, plus 4 bytes of lse per row"


def _roofline_int_judge(ctx: Context, fn: str, args, want: int, diagnose):
    def judge(case) -> Outcome | None:
        call = ctx.student.call(fn, args(case), {"causal": case.causal} if fn == "attention_flops" else {},
                                device="cpu")
        failure = call_failure(call, fn)
        if failure is not None:
            return failure
        expected = want(case)
        if type(call.value) is int and call.value == expected:
            return None
        got = call.value
        if isinstance(got, float):
            return Outcome(FAILED, f"{fn} returned the float {got!r}; expected the exact int {expected}",
                           hint="use integer arithmetic (//, not /): counts are exact ints in Python, floats "
                                "round past 2**53")
        return Outcome(FAILED, f"{fn}: expected {expected}, got {got!r}", hint=diagnose(case, got))

    return judge


@check("level3.roofline", "flops")
def roofline_flops(ctx: Context):
    judge = _roofline_int_judge(ctx, "attention_flops", _flops_args,
                                lambda c: oracle.attention_flops(*_flops_args(c), causal=c.causal), _flops_diagnosis)
    return run_examples(ctx, shape_cases(), judge)


@check("level3.roofline", "min_bytes")
def roofline_min_bytes(ctx: Context):
    judge = _roofline_int_judge(ctx, "attention_min_bytes", _bytes_args,
                                lambda c: oracle.attention_min_bytes(*_bytes_args(c)), _bytes_diagnosis)
    return run_examples(ctx, shape_cases(), judge)


@dataclasses.dataclass(frozen=True)
class RooflineCase:
    flops: int
    nbytes: int
    peak_flops: float
    peak_bytes_per_s: float

    def describe(self) -> str:
        return (f"roofline(flops={self.flops}, nbytes={self.nbytes}, peak_flops={self.peak_flops:g}, "
                f"peak_bytes_per_s={self.peak_bytes_per_s:g})")


@st.composite
def roofline_cases(draw) -> RooflineCase:
    if draw(st.integers(0, 4)) == 0:  # an exact tie: 1000 n / 1e15 and n / 1e12 round to the same float
        nbytes = draw(st.integers(1, 10**12))
        return RooflineCase(flops=1000 * nbytes, nbytes=nbytes, peak_flops=1e15, peak_bytes_per_s=1e12)
    return RooflineCase(flops=draw(st.integers(1, 10**16)), nbytes=draw(st.integers(1, 10**12)),
                        peak_flops=draw(st.sampled_from((989e12, 312e12, 19.5e12, 1e15))),
                        peak_bytes_per_s=draw(st.sampled_from((3.35e12, 2.0e12, 0.9e12))))


@check("level3.roofline", "roofline")
def roofline_bound(ctx: Context):
    """Times within 1e-9 relative of the oracle's; the bound exactly, "compute" at a tie."""

    def judge(case: RooflineCase) -> Outcome | None:
        call = ctx.student.call("roofline", (case.flops, case.nbytes, case.peak_flops, case.peak_bytes_per_s),
                                device="cpu")
        failure = call_failure(call, "roofline")
        if failure is not None:
            return failure
        seconds, bound = oracle.roofline(case.flops, case.nbytes, case.peak_flops, case.peak_bytes_per_s)
        got = call.value
        if not (isinstance(got, (tuple, list)) and len(got) == 2 and isinstance(got[0], (int, float))
                and not isinstance(got[0], bool) and isinstance(got[1], str)):
            return Outcome(FAILED, f"roofline must return (seconds, bound) with bound 'compute' or 'memory', "
                                   f"got {got!r}")
        compute_s, memory_s = case.flops / case.peak_flops, case.nbytes / case.peak_bytes_per_s
        if not math.isclose(got[0], seconds, rel_tol=1e-9):
            hint = ("the time is the larger of flops / peak_flops and nbytes / peak_bytes_per_s (the slower "
                    "resource sets it)") if math.isclose(got[0], min(compute_s, memory_s), rel_tol=1e-9) else \
                "seconds = max(flops / peak_flops, nbytes / peak_bytes_per_s)"
            return Outcome(FAILED, f"roofline: expected {seconds!r} seconds, got {got[0]!r}", hint=hint)
        if got[1] != bound:
            tie = " (a tie: the stub asks for 'compute')" if compute_s == memory_s else ""
            return Outcome(FAILED, f"roofline: expected bound {bound!r}, got {got[1]!r} (compute {compute_s:.3g} s, "
                                   f"memory {memory_s:.3g} s){tie}",
                           hint="the bound names the resource whose time is the larger: 'compute' when "
                                "flops / peak_flops >= nbytes / peak_bytes_per_s, else 'memory'")
        return None

    return run_examples(ctx, roofline_cases(), judge)


@check("level3.roofline", "rejects_bad_input")
def roofline_rejects_bad_input(ctx: Context):
    """The stub asks for a ValueError naming an argument that is not a positive int
    (counts) or a positive number (peaks); pays only once the other checks passed."""
    flops_args = {"batch": 2, "heads": 8, "n_q": 512, "n_k": 512, "head_dim": 64, "head_dim_v": 64}
    cases = [BadCall(f"attention_flops({name}={value!r}): not a positive int", "attention_flops",
                     tuple({**flops_args, name: value}.values()), ("ValueError",), (rf"\b{name}\b",))
             for name, value in (("batch", 0), ("n_k", -3), ("head_dim", 64.0), ("heads", True))]
    bytes_args = {"batch": 2, "heads_q": 8, "heads_kv": 2, "n_q": 512, "n_k": 512, "head_dim": 64,
                  "head_dim_v": 64, "dtype_bytes": 2}
    cases += [BadCall(f"attention_min_bytes({name}={value!r}): {why}", "attention_min_bytes",
                      tuple({**bytes_args, name: value}.values()), ("ValueError",), (rf"\b{name}\b",))
              for name, value, why in (("heads_kv", 3, "heads_q = 8 is not a multiple of it"),
                                       ("dtype_bytes", 0, "not a positive int"), ("n_q", 1.5, "not a positive int"))]
    cases += [BadCall("roofline(peak_flops=0)", "roofline", (10**12, 10**9, 0.0, 3e12), ("ValueError",),
                      (r"\bpeak_flops\b",)),
              BadCall("roofline(nbytes=-1)", "roofline", (10**12, -1, 1e15, 3e12), ("ValueError",), (r"\bnbytes\b",))]
    return rejects_bad_input(ctx, cases, ("flops", "min_bytes", "roofline"),
                    "bad counts and peaks raise ValueError naming the argument",
                    hint="check every argument first and raise ValueError(f\"n_k must be a positive int, got "
                         "{n_k!r}\"); heads_q must be a multiple of heads_kv")
