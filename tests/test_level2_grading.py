"""Level 2 graded end to end on this machine: the reference solutions earn every
point that can be verified here (on a CPU, the Triton kernel runs under Triton's
interpreter), and the stubs earn none, every check saying `not implemented`. Also
the op recorder's Level 2 fields, which those checks read, and their wire format."""

from __future__ import annotations

import functools

import pytest
import torch

import grader
from grader.child.recorder import MAX_PRODUCTS, OpRecorder, OpReport
from grader.manifest import load_manifest
from grader.results import NOT_IMPLEMENTED, NOT_VERIFIED, PASSED, GradeReport
from grader.runner import resolve_device

EXAMPLES = 4  # per property check: the solutions are right on any example; the point is that everything runs
MANIFEST = load_manifest()
MACHINE = resolve_device("auto")
LEVEL2 = [ex for ex in MANIFEST.exercises if ex.level == "level2"]


@functools.cache
def graded(solutions: bool) -> GradeReport:
    # The stubs are graded without timing: a timing check only says its prerequisites failed.
    return grader.grade("level2", solutions=solutions, examples=EXAMPLES, timing=solutions)


def statuses(report: GradeReport) -> dict[str, str]:
    return {f"{ex.id}.{c.name}": c.status for ex in report.exercises for c in ex.checks}


def expected(status_here: str, timing: bool = True) -> dict[str, str]:
    """``status_here`` for every check this machine can verify, `not verified here` for the
    rest (timing checks too when graded without timing)."""
    return {f"{ex.id}.{spec.id}": status_here if MACHINE.can_verify(spec.needs)
            and (timing or spec.max_ratio is None) else NOT_VERIFIED
            for ex in LEVEL2 for spec in ex.checks}


def test_solutions_earn_every_point_this_machine_can_verify():
    report = graded(solutions=True)
    got = statuses(report)
    assert got == expected(PASSED), "\n".join(
        f"{ex.id}.{c.name}: {c.message}" for ex in report.exercises for c in ex.checks if c.status != PASSED)
    verifiable = sum(spec.points for ex in LEVEL2 for spec in ex.checks if MACHINE.can_verify(spec.needs))
    assert sum(ex.score for ex in report.exercises) == verifiable > 0
    assert report.all_verified_passed


@pytest.mark.skipif(MACHINE.device != "cpu", reason="the interpreter path is what a CPU machine runs")
def test_the_triton_kernel_is_graded_under_the_interpreter_on_a_cpu():
    triton = next(ex for ex in graded(solutions=True).exercises if ex.id == "level2.flash_v2_triton")
    passed = {c.name for c in triton.checks if c.status == PASSED}
    assert {"oracle", "strided_views", "rejects_bad_input"} <= passed
    assert {c.name for c in triton.checks if c.status == NOT_VERIFIED} == {"long_sequences", "speed"}


def test_stubs_earn_nothing_and_say_not_implemented():
    report = graded(solutions=False)
    assert statuses(report) == expected(NOT_IMPLEMENTED, timing=False)
    assert report.score == 0
    for ex in report.exercises:
        for check in ex.checks:
            if check.status == NOT_IMPLEMENTED:
                assert "raises NotImplementedError" in check.message, check.message


# ----------------------------------------------------------------------------- the recorder


def test_recorder_sees_copies_of_inputs_but_not_of_its_own_tensors():
    q = torch.randn(2, 5, 3, 4).transpose(1, 2)  # a view made before the call, as the worker's inputs are
    with OpRecorder() as recorder:
        q.contiguous()
        fresh = torch.randn(4, 4)
        fresh.clone()
        fresh.float()  # same dtype: no copy at all
    report = recorder.report
    assert (report.input_copies, report.input_copy_op, report.input_copy_shape) == (1, "clone", (2, 3, 5, 4))


def test_recorder_keeps_product_shapes_in_call_order():
    a, b, c = torch.randn(3, 8, 5), torch.randn(3, 5, 7), torch.randn(7, 2)
    with OpRecorder() as recorder:
        a @ b
        (a @ b)[0] @ c
    assert recorder.report.products == [(8, 7, 5), (8, 7, 5), (8, 2, 7)]
    assert recorder.report.contractions == 3


def test_report_survives_the_wire_and_rejects_forged_types():
    report = OpReport(contractions=2, products=[(4, 5, 6)], input_copies=1, input_copy_op="clone",
                      input_copy_shape=(2, 3), kernel_launches={"student.kernel": 3}, op_counts={"mm": 2})
    assert OpReport.from_dict(report.to_dict()) == report
    for key, forged in (("contractions", "2"), ("contractions", True), ("products", [[4, 5]]),
                        ("kernel_launches", {"k": -1}), ("op_counts", [("mm", 2)]),
                        ("products", [[1, 1, 1]] * (MAX_PRODUCTS + 1))):
        with pytest.raises((TypeError, ValueError)):
            OpReport.from_dict({**report.to_dict(), key: forged})
