"""The `rejects_bad_input` checks of every level: calls the contract says must raise,
each with a message that names what is wrong, paid only once the exercise's
correctness checks passed (a function that only raises earns nothing)."""

from __future__ import annotations

import dataclasses
import re

from grader.checks.base import Context, Outcome, call_failure, run_cases
from grader.results import FAILED, PASSED

_EXCEPTION_LINE = re.compile(r"^(?:[\w.]+\.)?(\w+(?:Error|Exception))\b:?\s*(.*)$", re.MULTILINE)


@dataclasses.dataclass(frozen=True)
class BadCall:
    """One call the contract says must raise ``errors``, with a message that matches
    one of ``names`` (the argument, or what is wrong with it)."""

    what: str  # how the example is shown
    fn: str
    args: tuple
    errors: tuple[str, ...]
    names: tuple[str, ...]  # regular expressions, case-insensitive
    device: str | None = None  # None: the check's device

    def describe(self) -> str:
        return self.what


def _judge(ctx: Context):
    def judge(case: BadCall) -> Outcome | None:
        call = ctx.student.call(case.fn, case.args, device=case.device or ctx.device)
        wanted = " or ".join(case.errors)
        if call.status == "ok":
            return Outcome(FAILED, f"{case.fn} returned normally where {wanted} was expected")
        if call.status != "raised":
            return call_failure(call, case.fn)
        raised = [(m.group(1), m.group(2)) for m in _EXCEPTION_LINE.finditer(call.error)]
        error, message = next(((e, m) for e, m in raised if e in case.errors), raised[-1] if raised else ("", ""))
        if error not in case.errors:
            return Outcome(FAILED, f"{case.fn} raised {error or 'an exception'} where {wanted} was expected"
                                   f"{': ' + message if message else ''}", details=call.error.strip())
        if not any(re.search(name, message, re.IGNORECASE) for name in case.names):
            return Outcome(FAILED, f"{case.fn} raised {error}, but its message does not say what is wrong: "
                                   f"{message!r}")
        return None

    return judge


def rejects_bad_input(ctx: Context, cases: list[BadCall], prerequisites: tuple[str, ...], summary: str, hint: str):
    """Bad input raises a clear error, and the function works on good input: a
    function that only raises earns nothing."""
    result = run_cases(ctx, cases, _judge(ctx), summary)
    if result.status == FAILED and not result.hint:
        result.hint = hint
    if result.status != PASSED:
        return result
    unmet = [c for c in prerequisites if ctx.earlier.get(c) is None or ctx.earlier[c].status != PASSED]
    if unmet:
        return ctx.result(FAILED, f"bad input is rejected, but this point is for a working function that also "
                                  f"rejects bad input: the {' and '.join(unmet)} check{'s' if len(unmet) > 1 else ''} "
                                  f"must pass first")
    return result
