"""`course doctor`: what this machine can verify."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import shutil
import subprocess
import sys

import click
from rich.table import Table

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


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _interpreter_works() -> tuple[bool, str]:
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    try:
        done = subprocess.run([sys.executable, "-c", INTERPRETER_PROBE], env=env, capture_output=True,
                              text=True, timeout=120)
    except subprocess.TimeoutExpired:
        return False, "timed out"
    return done.returncode == 0, (done.stderr.strip().splitlines() or ["ok"])[-1]


def _nvcc() -> str | None:
    path = shutil.which("nvcc")
    if path is None:
        return None
    out = subprocess.run([path, "--version"], capture_output=True, text=True).stdout.strip().splitlines()
    return out[-1] if out else path


@click.command()
def doctor() -> None:
    """Report torch, triton (and its interpreter), GPU, nvcc, pybind11 and nbgrader."""
    import torch

    rows = [("python", platform.python_version(), True)]
    rows.append(("torch", torch.__version__, True))
    cuda = torch.cuda.is_available()
    if cuda:
        major, minor = torch.cuda.get_device_capability()
        rows.append(("GPU", f"{torch.cuda.get_device_name()} (sm_{major}{minor})", True))
    else:
        rows.append(("GPU", "none: GPU checks will show 'not verified here'", False))
    triton_version = _version("triton")
    rows.append(("triton", triton_version or "not installed", triton_version is not None))
    if triton_version:
        ok, detail = _interpreter_works()
        rows.append(("triton interpreter", "works" if ok else f"broken: {detail}", ok))
    nvcc = _nvcc()
    rows.append(("nvcc", nvcc or "not found (level 3 needs it)", nvcc is not None))
    for package in ("pybind11", "hypothesis", "click", "rich", "nbgrader"):
        version = _version(package)
        rows.append((package, version or "not installed", version is not None))
    t = Table(title="course doctor", title_justify="left")
    t.add_column("component")
    t.add_column("found")
    for name, found, ok in rows:
        t.add_row(name, f"[green]{found}[/]" if ok else f"[yellow]{found}[/]")
    console.print(t)
    verifiable = ["cpu checks (PyTorch on CPU, Triton's interpreter)"] + (["gpu checks"] if cuda else [])
    console.print("This machine can verify: " + "; ".join(verifiable))
