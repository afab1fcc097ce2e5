"""`course doctor`: what this machine can verify, probed rather than assumed, and the
command that fixes each missing or broken piece."""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass

import click
from rich.table import Table
from rich.text import Text

from grader.isolation import isolation_layers, sandbox_available
from grader.report import console

# A tiny Triton kernel run under the interpreter in a fresh process: TRITON_INTERPRET
# must be set before triton is imported, and a broken install must not take us down.
INTERPRETER_PROBE = """
import torch, triton, triton.language as tl
@triton.jit
def _double(x_ptr, N: tl.constexpr):
    offs = tl.arange(0, N)
    tl.store(x_ptr + offs, 2 * tl.load(x_ptr + offs))
x = torch.arange(8, dtype=torch.float32)
_double[(1,)](x, 8)
assert x.tolist() == [2.0 * i for i in range(8)], x
"""
PROBE_TIMEOUT_S = 120  # the first interpreter run imports torch and triton: seconds, not minutes
REINSTALL = 'pip install -e .  (from the course folder: installs every declared dependency)'
CPU_GRADING = ("torch", "hypothesis", "click", "rich")  # what grading PyTorch exercises on the CPU imports
NVCC_FIX = ("install the CUDA toolkit (https://developer.nvidia.com/cuda-downloads) and put its bin/ "
            "on PATH; only level 3 needs it")


@dataclass(frozen=True)
class Finding:
    component: str
    found: str  # what was found, or why it is missing or broken
    ok: bool
    fix: str = ""  # the command (or step) that fixes it; empty when ok
    required: bool = True  # grading levels 1-2 on the CPU needs it (exit status 1 without it)


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _import_error(module: str) -> str | None:
    """None when ``module`` imports, else the exception's one-line message."""
    try:
        importlib.import_module(module)
    except Exception as exc:  # a broken install raises anything, not only ImportError
        return f"{type(exc).__name__}: {exc}".splitlines()[0]
    return None


def _interpreter_works() -> tuple[bool, str]:
    """Run INTERPRETER_PROBE under TRITON_INTERPRET=1; (worked, its last stderr line)."""
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    try:
        done = subprocess.run([sys.executable, "-c", INTERPRETER_PROBE], env=env, capture_output=True,
                              text=True, timeout=PROBE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return False, f"the probe kernel did not finish in {PROBE_TIMEOUT_S} s"
    lines = done.stderr.strip().splitlines()
    if done.returncode == 0:
        return True, "ran a kernel with TRITON_INTERPRET=1"
    return False, lines[-1] if lines else f"exit status {done.returncode}"


def _interpreter_fix(error: str) -> str:
    if "No module named 'numpy'" in error or "NumPy" in error:
        return "pip install numpy"
    if "did not finish" in error:
        return ("run `course doctor` again on a quieter machine; if it hangs again, "
                "pip install --force-reinstall triton")
    return "pip install --force-reinstall triton  (then `course doctor` again)"


def _nvcc() -> str | None:
    path = shutil.which("nvcc")
    if path is None:
        return None
    done = subprocess.run([path, "--version"], capture_output=True, text=True)
    if done.returncode != 0:
        return None
    release = [line for line in done.stdout.splitlines() if "release" in line]  # "..., release 12.4, V12.4.131"
    return release[0].split(",", 1)[-1].strip() if release else path


def _torch_findings() -> tuple[list[Finding], bool, str | None]:
    """torch, and the GPU it sees: (findings, torch works, GPU name with sm_XY or None)."""
    error = _import_error("torch")
    if error is not None:
        fix = ("pip install torch==2.13.0  (on a CPU-only machine the CPU build; "
               "a GPU machine needs the CUDA build that matches its driver)")
        return [Finding("torch", f"does not import: {error}", False, fix)], False, None
    import torch

    try:
        torch.ones(4, 4) @ torch.ones(4, 4)
    except Exception as exc:
        return [Finding("torch", f"{torch.__version__}, a CPU matmul failed: {exc}", False,
                        "pip install --force-reinstall torch")], False, None
    findings = [Finding("torch", f"{torch.__version__} (a CPU matmul ran)", True)]
    if not torch.cuda.is_available():
        findings.append(Finding("GPU", "none that torch can use (torch.cuda.is_available() is False)", False,
                                required=False))
        return findings, True, None
    try:
        torch.ones(4, device="cuda").sum().item()
    except Exception as exc:
        findings.append(Finding("GPU", f"torch sees one, but a tensor op on it failed: {exc}", False,
                                "check the driver with nvidia-smi, and that torch's CUDA build matches it",
                                required=False))
        return findings, True, None
    major, minor = torch.cuda.get_device_capability()
    gpu = f"{torch.cuda.get_device_name()} (sm_{major}{minor})"
    findings.append(Finding("GPU", f"{gpu}, CUDA {torch.version.cuda} (a tensor op ran)", True, required=False))
    return findings, True, gpu


def _triton_findings(torch_works: bool) -> tuple[list[Finding], bool]:
    """triton and its interpreter: (findings, the interpreter ran a kernel)."""
    version = _version("triton")
    if version is None:
        return [Finding("triton", "not installed", False, 'pip install "triton>=3.0"  (Linux x86_64 wheels)'),
                Finding("triton interpreter", "not probed: triton is missing", False)], False
    findings = [Finding("triton", version, True)]
    if not torch_works:
        return findings + [Finding("triton interpreter", "not probed: torch does not work", False)], False
    works, detail = _interpreter_works()
    if works:
        return findings + [Finding("triton interpreter", f"works ({detail})", True)], True
    return findings + [Finding("triton interpreter", f"broken: {detail}", False, _interpreter_fix(detail))], False


def _package_findings() -> list[Finding]:
    findings = []
    numpy_error = _import_error("numpy")
    findings.append(Finding("numpy", _version("numpy") if numpy_error is None else f"missing: {numpy_error}",
                            numpy_error is None, "" if numpy_error is None else "pip install numpy"))
    for package, required in (("hypothesis", True), ("click", True), ("rich", True), ("pybind11", False),
                              ("nbformat", False)):
        version = _version(package)
        findings.append(Finding(package, version or "not installed", version is not None,
                                "" if version else REINSTALL, required))
    nvcc = _nvcc()
    findings.append(Finding("nvcc", f"{nvcc} (`nvcc --version` ran; nothing compiled)" if nvcc else "not found",
                            nvcc is not None, "" if nvcc else NVCC_FIX, required=False))
    version = _version("nbgrader")
    findings.append(Finding("nbgrader", version or "not installed (only `course nbgrader` needs it)",
                            version is not None, "" if version else 'pip install -e ".[nbgrader]"',
                            required=False))
    return findings


def _isolation_findings() -> list[Finding]:
    """How student code is contained here (docs/GRADING.md, "Threat model")."""
    layers = isolation_layers()
    namespaces = any("namespaces" in layer for layer in layers)
    findings = [Finding("student isolation", ", ".join(layers), namespaces,
                        "" if namespaces else "unshare (util-linux) with unprivileged user namespaces allowed gives "
                                              "each student process its own PID space", required=False)]
    sandbox = sandbox_available()
    findings.append(Finding("sandbox (bubblewrap)", "works: course grade --sandbox" if sandbox
                            else "not available: course grade --sandbox refuses", sandbox,
                            "" if sandbox else "apt-get install bubblewrap  (for course grade --sandbox)",
                            required=False))
    return findings


def _verifiable(findings: list[Finding], interpreter: bool, gpu: str | None) -> tuple[list[str], list[str]]:
    """(what this machine can verify, what it cannot), from what the probes showed."""
    cpu_ok = all(f.ok for f in findings if f.component in CPU_GRADING)
    can, cannot = [], []
    (can if cpu_ok else cannot).append("PyTorch exercises on the CPU")
    (can if interpreter and cpu_ok else cannot).append("Triton kernels under Triton's interpreter")
    if gpu is not None:
        can.append(f"GPU checks (timings, long sequences) on {gpu}")
    else:
        cannot.append("GPU checks (timings, long sequences): they say 'not verified here'")
    return can, cannot


@click.command(epilog="Example: course doctor")
def doctor() -> None:
    """Probe python, torch, numpy, triton (and its interpreter), the GPU, nvcc, pybind11
    and nbgrader; print the command that fixes each missing piece and what this machine
    can verify. Exit status 1 when something CPU grading needs is missing or broken."""
    torch_rows, torch_works, gpu = _torch_findings()
    triton_rows, interpreter = _triton_findings(torch_works)
    python = Finding("python", f"{platform.python_version()} ({sys.executable})", True)
    findings = [python, *torch_rows, *triton_rows, *_package_findings(), *_isolation_findings()]
    can, cannot = _verifiable(findings, interpreter, gpu)

    table = Table(title="course doctor", title_justify="left")
    table.add_column("component", no_wrap=True)
    table.add_column("found", overflow="fold")
    for f in findings:
        table.add_row(f.component, Text(f.found, style="green" if f.ok else "yellow"))
    console.print(table)
    fixes = [f for f in findings if f.fix]
    if fixes:
        console.print("To fix:")
        for f in fixes:  # soft wrap: a command stays on one line, to copy
            console.print(Text(f"  {f.component}: {f.fix}"), soft_wrap=True)
    console.print(Text("This machine can verify: " + ("; ".join(can) if can else "nothing yet")), soft_wrap=True)
    if cannot:
        console.print(Text("Not verifiable here: " + "; ".join(cannot)), soft_wrap=True)
    if any(f.required and not f.ok for f in findings):
        raise SystemExit(1)
