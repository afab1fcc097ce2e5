"""`course doctor` through Click's CliRunner: it states only what its probes showed,
and prints the command that fixes each missing or broken piece.

The probes are the module's functions; a broken machine is simulated by replacing
one of them (the interpreter probe, a package's version, nvcc on PATH), so each test
shows what the report says about exactly one missing piece."""

from __future__ import annotations

import importlib

import pytest
import torch
from click.testing import CliRunner, Result

from grader.cli import main

doctor_module = importlib.import_module("grader.cli.doctor")  # grader.cli.doctor, the attribute, is the command

NUMPY_MISSING = "ModuleNotFoundError: No module named 'numpy'"


def doctor() -> Result:
    return CliRunner().invoke(main, ["doctor"])


def line_after(output: str, prefix: str) -> str:
    """The report line that starts with ``prefix``, without it."""
    return next(line[len(prefix):] for line in output.splitlines() if line.startswith(prefix))


def can_verify(output: str) -> str:
    return line_after(output, "This machine can verify: ")


def test_this_machine_can_verify_the_cpu_checks_and_the_interpreter():
    """The real probes on the test machine, which has the course's dependencies."""
    result = doctor()
    assert result.exit_code == 0, result.output
    assert torch.__version__ in result.output
    assert "works (ran a kernel with TRITON_INTERPRET=1)" in result.output
    assert can_verify(result.output).startswith(
        "PyTorch exercises on the CPU; Triton kernels under Triton's interpreter")


@pytest.mark.skipif(torch.cuda.is_available(), reason="the machine has a GPU")
def test_without_a_gpu_gpu_checks_are_not_claimed():
    result = doctor()
    assert "GPU checks" not in can_verify(result.output)
    assert "GPU checks" in line_after(result.output, "Not verifiable here: ")


def test_a_broken_interpreter_shows_its_error_and_the_fix_and_is_not_claimed(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(doctor_module, "_interpreter_works", lambda: (False, NUMPY_MISSING))
    result = doctor()
    assert result.exit_code == 1, result.output
    assert f"broken: {NUMPY_MISSING}" in " ".join(result.output.split())  # the table may wrap the row
    assert line_after(result.output, "  triton interpreter: ") == "pip install numpy"
    assert "interpreter" not in can_verify(result.output)
    assert "PyTorch exercises on the CPU" in can_verify(result.output)  # what did work is still stated
    assert "Triton kernels under Triton's interpreter" in line_after(result.output, "Not verifiable here: ")


def test_the_interpreter_probe_reports_the_last_line_of_its_error(monkeypatch: pytest.MonkeyPatch):
    """The real subprocess probe, with a probe program that fails the way a broken
    triton does: the report carries the error line, and the fix is a reinstall."""
    probe = "import sys\nsys.exit('RuntimeError: no interpreter here')"
    monkeypatch.setattr(doctor_module, "INTERPRETER_PROBE", probe)
    works, detail = doctor_module._interpreter_works()
    assert (works, detail) == (False, "RuntimeError: no interpreter here")
    assert "pip install --force-reinstall triton" in doctor_module._interpreter_fix(detail)


def test_numpy_missing_is_reported_with_its_fix(monkeypatch: pytest.MonkeyPatch):
    real = doctor_module._import_error
    monkeypatch.setattr(doctor_module, "_import_error",
                        lambda module: NUMPY_MISSING if module == "numpy" else real(module))
    result = doctor()
    assert result.exit_code == 1, result.output
    assert line_after(result.output, "  numpy: ") == "pip install numpy"


@pytest.mark.parametrize(("package", "fix", "exit_code"), [
    ("nbgrader", 'pip install -e ".[nbgrader]"', 0),  # optional: only `course nbgrader` needs it
    ("hypothesis", "pip install -e .", 1),  # grading needs it
])
def test_a_missing_package_is_reported_with_its_fix(monkeypatch: pytest.MonkeyPatch, package: str, fix: str,
                                                    exit_code: int):
    real = doctor_module._version
    monkeypatch.setattr(doctor_module, "_version", lambda name: None if name == package else real(name))
    result = doctor()
    assert result.exit_code == exit_code, result.output
    assert line_after(result.output, f"  {package}: ").startswith(fix)
    if exit_code:
        assert "PyTorch exercises on the CPU" not in can_verify(result.output)


def test_nvcc_missing_says_where_to_get_it(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(doctor_module.shutil, "which", lambda name: None)
    result = doctor()
    assert result.exit_code == 0, result.output  # only level 3 needs nvcc
    assert "cuda-downloads" in line_after(result.output, "  nvcc: ")


def test_a_healthy_machine_prints_no_fix_for_what_it_has():
    result = doctor()
    fixed = {line.split(":")[0].strip() for line in result.output.split("To fix:")[-1].splitlines()[1:]
             if line.startswith("  ")}
    needed = {"torch", "triton", "triton interpreter", "numpy", "hypothesis", "click", "rich"}
    assert not fixed & needed, result.output


def test_without_bubblewrap_the_sandbox_is_reported_with_its_fix(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(doctor_module, "sandbox_available", lambda: False)
    result = doctor()
    assert result.exit_code == 0, result.output  # grading works without it; only --sandbox needs it
    assert "course grade --sandbox refuses" in result.output
    assert "apt-get install bubblewrap" in line_after(result.output, "  sandbox (bubblewrap): ")


def test_the_isolation_layers_in_use_are_named(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(doctor_module, "isolation_layers", lambda: ["the audit-hook guard", "deadlines and size caps"])
    result = doctor()
    assert "the audit-hook guard, deadlines and size caps" in result.output
    assert "own PID space" in result.output  # no namespaces: the fix says what they would add
