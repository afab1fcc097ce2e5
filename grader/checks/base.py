"""How a check is declared and run.

A check is a function ``Context -> CheckResult`` registered under the exercise and
check ids of course.toml. Most checks are property checks: `run_examples` draws
cases with hypothesis (seeded, so a run is reproducible), hands each to a
*judge* that calls the student through the isolated child and compares with the
oracle, and on failure lets hypothesis shrink to the smallest failing case. A
crash, a timeout or a missing implementation stops the check at once (restarting
a crashed child per shrink step would cost minutes and teach nothing).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import HealthCheck, Phase, Verbosity, given, seed, settings
from hypothesis import strategies as st

from grader.isolation import CallResult, StudentProcess
from grader.manifest import CheckSpec, ExerciseSpec, Manifest
from grader.repro import Call, snippet
from grader.results import ERROR, FAILED, NOT_IMPLEMENTED, PASSED, TIMEOUT, CheckResult


class RecordingStudent:
    """The student's process, remembering the calls made since `forget`: the calls
    of the example being judged, so that a failure can be rebuilt."""

    def __init__(self, process: StudentProcess):
        self.process = process
        self.calls: list[Call] = []

    def forget(self) -> None:
        self.calls = []

    def call(self, fn: str, args: tuple, kwargs: dict | None = None, **options) -> CallResult:
        result = self.process.call(fn, args, kwargs, **options)
        self.calls.append(Call(fn, tuple(args), dict(kwargs or {}), result.value if result.ok else None))
        return result

    def __getattr__(self, name: str):
        return getattr(self.process, name)


@dataclass
class Context:
    """Everything a check may use; built by the runner for each check."""

    manifest: Manifest
    exercise: ExerciseSpec
    check: CheckSpec
    student: StudentProcess
    device: str  # "cpu" or "cuda": where student code runs
    seed: int
    examples: int
    reference_path: Path  # the reference solution, for timing checks
    timing: bool = True
    tick: Callable[[], None] = lambda: None  # progress: one example done
    earlier: dict[str, CheckResult] = field(default_factory=dict)  # this exercise's checks so far

    def __post_init__(self):
        if not isinstance(self.student, RecordingStudent):
            self.student = RecordingStudent(self.student)

    @property
    def tolerance(self):
        return self.exercise.tolerance or self.manifest.tolerance

    @property
    def interpreted(self) -> bool:
        """Triton code runs under the interpreter (no GPU): correctness only."""
        return self.exercise.interpret_on_cpu and self.device == "cpu"

    def result(self, status: str, summary: str, **fields) -> CheckResult:
        return CheckResult(name=self.check.id, status=status, max_score=self.check.points,
                           summary=summary, **fields)


@dataclass
class Outcome:
    """A judge's verdict on one failing example (a passing one returns None)."""

    status: str  # failed | error | timeout | not implemented
    summary: str
    hint: str = ""
    measured: float | None = None
    allowed: float | None = None
    details: str = ""
    fatal: bool = False  # stop at once: no shrinking
    example: str = field(default="")


class _Failed(Exception):
    def __init__(self, outcome: Outcome, case, calls: list[Call]):
        super().__init__(outcome.summary)
        self.outcome, self.case, self.calls = outcome, case, calls


class _Stop(BaseException):
    """Raised through hypothesis to end a check without shrinking."""

    def __init__(self, outcome: Outcome, case, calls: list[Call]):
        super().__init__(outcome.summary)
        self.outcome, self.case, self.calls = outcome, case, calls


def call_failure(call: CallResult, fn: str) -> Outcome | None:
    """The outcome of a call that did not return normally, None if it did."""
    printed = f"your code printed:\n{call.output.strip()}" if call.output.strip() else ""
    if call.status == "ok":
        return None
    if call.status == "not_implemented":
        return Outcome(NOT_IMPLEMENTED, f"{fn} raises NotImplementedError", fatal=True)
    if call.status == "timeout":
        return Outcome(TIMEOUT, f"{fn}: {call.error}", hint="an infinite loop, or a loop that "
                       "never advances its block index", details=printed, fatal=True)
    if call.status in ("crashed", "import_error"):
        return Outcome(ERROR, f"{fn}: {call.error}", details=printed, fatal=True)
    return Outcome(ERROR, f"{fn} raised an exception", details=call.error.strip() + ("\n" + printed if printed else ""))


def run_examples(ctx: Context, strategy: st.SearchStrategy, judge: Callable[[object], Outcome | None],
                 describe: Callable[[object], str] = lambda case: case.describe()) -> CheckResult:
    """Property check over ``ctx.examples`` hypothesis cases, shrinking failures."""
    budget = ctx.manifest.course.shrink_budget_s
    first_failure_at: list[float] = []

    def test(case):
        ctx.tick()
        ctx.student.forget()
        outcome = judge(case)
        if outcome is None:
            return
        outcome.example = describe(case)
        if outcome.fatal:
            raise _Stop(outcome, case, ctx.student.calls)
        first_failure_at.append(first_failure_at[0] if first_failure_at else time.monotonic())
        if time.monotonic() - first_failure_at[0] > budget:
            raise _Stop(outcome, case, ctx.student.calls)  # the smallest failure found so far is good enough
        raise _Failed(outcome, case, ctx.student.calls)

    prop = seed(ctx.seed)(
        settings(
            max_examples=ctx.examples,
            database=None,
            deadline=None,
            derandomize=False,
            verbosity=Verbosity.quiet,
            phases=(Phase.explicit, Phase.generate, Phase.shrink),
            report_multiple_bugs=False,
            suppress_health_check=list(HealthCheck),
            print_blob=False,
        )(given(strategy)(test))
    )
    try:
        prop()
    except (_Failed, _Stop) as stop:
        return outcome_result(ctx, stop.outcome, stop.case, stop.calls)
    return ctx.result(PASSED, f"{ctx.examples} random examples agree with the oracle")


def outcome_result(ctx: Context, outcome: Outcome, case=None, calls: list[Call] = ()) -> CheckResult:
    """The check's result from a judge's outcome on ``case``; ``calls`` (the judge's
    calls on it) make the repro script of a failure, error or timeout."""
    example = "" if outcome.status == NOT_IMPLEMENTED else outcome.example  # any input would do
    result = ctx.result(outcome.status, outcome.summary, example=example, measured=outcome.measured,
                        allowed=outcome.allowed, hint=outcome.hint, details=outcome.details)
    if case is not None and outcome.status in (FAILED, ERROR, TIMEOUT):
        result.repro = snippet(
            case, list(calls), check_id=f"{ctx.exercise.id}.{ctx.check.id}", path=ctx.student.path,
            module=ctx.student.module_name, device=ctx.device, interpret=ctx.interpreted,
            verdict="\n".join(filter(None, (result.summary, result.error_line,
                                            f"hint: {result.hint}" if result.hint else ""))),
        ) or ""
    return result


def run_cases(ctx: Context, cases, judge: Callable[[object], Outcome | None], summary: str) -> CheckResult:
    """A check over a fixed list of cases (structural rules, hand-picked edge cases)."""
    for case in cases:
        ctx.tick()
        ctx.student.forget()
        outcome = judge(case)
        if outcome is not None:
            outcome.example = case.describe() if hasattr(case, "describe") else str(case)
            return outcome_result(ctx, outcome, case, ctx.student.calls)
    return ctx.result(PASSED, summary)


def run_examples_then_batteries(ctx: Context, strategy: st.SearchStrategy, judge: Callable[[object], Outcome | None],
                                batteries: list) -> CheckResult:
    """Random cases first (a failure is shrunk to the smallest), then fixed batteries
    that hold the hard conditions at once. Hypothesis reaches a combination (grouped
    heads on transposed views, say) only by chance, and a grade must not depend on
    the seed: final grading mixes in a secret one."""
    result = run_examples(ctx, strategy, judge)
    if result.status != PASSED:
        return result
    return run_cases(ctx, batteries, judge, f"{result.summary}, and {len(batteries)} fixed batches of the hard "
                                            f"cases at once")


# ----------------------------------------------------------------------------- registry

CheckFn = Callable[[Context], CheckResult]
REGISTRY: dict[tuple[str, str], CheckFn] = {}


def check(exercise_id: str, check_id: str):
    """Register a check under the ids course.toml uses for it."""

    def register(fn: CheckFn) -> CheckFn:
        REGISTRY[(exercise_id, check_id)] = fn
        return fn

    return register
