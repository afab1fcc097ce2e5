"""Rebuild a failing call as a Python script the student can run (`course repro`).

When a check fails, `grader.checks.base` hands over the failing case (a frozen
dataclass from grader.inputs, shrunk by hypothesis) and the calls the judge made
into the student's code on it. `snippet` writes every argument of those calls as
an expression: a value one of the case's builders makes (``q, k, v =
case.tensors()``), a value an earlier call returned, a constant tensor, a small
tensor written out, or a plain literal. Where an argument cannot be written so
(a large tensor computed inside the check), there is no snippet: one that called
the function on other inputs would mislead.
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass
from pathlib import Path

import torch

# The case methods that make inputs, and the names the contract gives what they return.
BUILDERS = {
    "tensors": ("q", "k", "v"),
    "tensor": ("x",),
    "states": ("o_a", "lse_a", "o_b", "lse_b"),
    "stats": ("m_a", "l_a", "m_b", "l_b", "m_c", "l_c"),
    "paged_inputs": ("q", "k_cache", "block_table", "cache_seqlens"),
}
INLINE_MAX_ELEMENTS = 64  # a tensor made inside the check is written out up to this size
COMMENT_WIDTH = 88


@dataclass(frozen=True)
class Call:
    """One call the judge made into the student's code."""

    fn: str
    args: tuple
    kwargs: dict
    value: object  # what came back (tensors on the CPU); None when the call did not return


class _Unwritable(Exception):
    """An argument has no expression in the snippet."""


def _same(a, b) -> bool:
    """Equal tensors, NaN included, with the same dtype, shape and strides."""
    if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)):
        return False
    if a.dtype != b.dtype or a.shape != b.shape or a.stride() != b.stride() or a.device != b.device:
        return False
    nan_a, nan_b = a.isnan(), b.isnan()
    return torch.equal(nan_a, nan_b) and torch.equal(a.masked_fill(nan_a, 0), b.masked_fill(nan_b, 0))


def _literal(value) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return f'float("{value}")'
    if value is None or isinstance(value, (bool, int, float, str)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    if isinstance(value, tuple):
        return "(" + ", ".join(_literal(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    raise _Unwritable(type(value).__name__)


class _Writer:
    """Names every value the snippet makes, and writes arguments in those names."""

    def __init__(self, case, device: str):
        self.device = device
        self.used: dict[str, tuple[str, ...]] = {}  # builder method -> names, in order of first use
        self.inputs: list[tuple[torch.Tensor, str, str]] = []  # (value, builder method, name)
        for method, names in BUILDERS.items():
            build = getattr(case, method, None)
            if not callable(build):
                continue
            made = build()
            made = made if isinstance(made, tuple) else (made,)
            self.inputs += [(value, method, name) for name, value in zip(names, made)]
        self.results: list[tuple[torch.Tensor, str]] = []  # values earlier calls returned

    def _device(self) -> str:
        return "" if self.device == "cpu" else f', device="{self.device}"'

    def rank(self, calls: list[Call]) -> None:
        """Equal values have several names (two empty states are both all -inf): try
        first the builder that makes most of the calls' arguments."""
        args = [a for call in calls for a in (*call.args, *call.kwargs.values()) if isinstance(a, torch.Tensor)]
        hits = {method: sum(any(_same(a, v) for v, m, _ in self.inputs if m == method) for a in args)
                for method in BUILDERS}
        self.inputs.sort(key=lambda entry: -hits[entry[1]])

    def tensor(self, t: torch.Tensor, taken: set[str]) -> str:
        """``t``'s expression; among equal values, a name not yet ``taken`` by this call."""
        matches = [(method, name) for value, method, name in self.inputs if _same(t, value)]
        if matches:
            method, name = next((m for m in matches if m[1] not in taken), matches[0])
            self.used.setdefault(method, BUILDERS[method])
            taken.add(name)
            return name
        for value, name in self.results:  # an earlier call's result, the earliest first
            if _same(t, value):
                return name
        if t.numel() == 0:
            return f"torch.empty({list(t.shape)}, dtype={t.dtype}{self._device()})"
        if not t.is_contiguous():
            raise _Unwritable("a strided tensor made inside the check")
        first = t.reshape(-1)[0].item()
        if _same(t, torch.full_like(t, first)):
            return f"torch.full({list(t.shape)}, {_literal(first)}, dtype={t.dtype}{self._device()})"
        if t.numel() <= INLINE_MAX_ELEMENTS:
            return f"torch.tensor({_literal(t.tolist())}, dtype={t.dtype}{self._device()})"
        raise _Unwritable(f"a {list(t.shape)} tensor made inside the check")

    def value(self, v, taken: set[str]) -> str:
        return self.tensor(v, taken) if isinstance(v, torch.Tensor) else _literal(v)

    def calls(self, calls: list[Call]) -> list[str]:
        self.rank(calls)
        lines = []
        for i, call in enumerate(calls, 1):
            name = "result" if len(calls) == 1 else f"r{i}"
            taken: set[str] = set()
            args = [self.value(a, taken) for a in call.args]
            args += [f"{k}={self.value(v, taken)}" for k, v in call.kwargs.items()]
            lines.append(f"{name} = student.{call.fn}({', '.join(args)})")
            if isinstance(call.value, torch.Tensor):
                self.results.append((call.value, name))
            elif isinstance(call.value, (tuple, list)):
                self.results += [(v, f"{name}[{j}]") for j, v in enumerate(call.value) if isinstance(v, torch.Tensor)]
        return lines

    def builder_lines(self) -> list[str]:
        lines = []
        for method, names in self.used.items():
            if len(names) == 1:
                move = "" if self.device == "cpu" else f'.to("{self.device}")'
                lines.append(f"{names[0]} = case.{method}(){move}")
            elif self.device == "cpu":
                lines.append(f"{', '.join(names)} = case.{method}()")
            else:
                lines.append(f'{", ".join(names)} = (t.to("{self.device}") for t in case.{method}())')
        return lines


def _comment(text: str) -> list[str]:
    lines = []
    for line in text.splitlines():
        lines += textwrap.wrap(line, COMMENT_WIDTH, initial_indent="#   ", subsequent_indent="#     ") or ["#"]
    return lines


def snippet(case, calls: list[Call], *, check_id: str, path: Path, module: str, device: str,
            interpret: bool, verdict: str) -> str | None:
    """A script that rebuilds ``case``, loads the student's file at ``path`` and makes
    ``calls`` again; None when an argument cannot be written (see the module doc).

    ``verdict`` (what the grader said) goes into the header as a comment; ``interpret``
    sets TRITON_INTERPRET=1 first, as the grader does for Triton code without a GPU."""
    if not calls:
        return None
    writer = _Writer(case, device)
    try:
        call_lines = writer.calls(calls)
    except _Unwritable:
        return None
    what = "the call the grader made" if len(calls) == 1 else "the calls the grader made, in order"
    header = [f"# course repro {check_id}",
              f"# The smallest failing input of your last failure of this check, and {what} on it",
              f"# (graded on {device}). Run it with python, or paste it into a REPL and inspect the result.",
              "#", "# The grader said:", *_comment(verdict)]
    top = ["import os", "", 'os.environ["TRITON_INTERPRET"] = "1"  # no GPU: Triton\'s interpreter, as graded', ""] \
        if interpret else []
    native = str(path).endswith(".cu")  # Level 3: built by nvcc (cached), then loaded with its Python side
    imports = ["import torch", "", "import kernels"] if native else \
        ["import importlib.util", "import sys", "", "import torch"]
    build = writer.builder_lines()
    if build:
        kind = type(case)
        imports.append(f"from {kind.__module__} import {kind.__name__}")
        build = [f"case = {case!r}", *build]
    if native:
        load = ["# your kernel, built and loaded as the grader builds it (kernels/builder.py)",
                f"student = kernels.load({str(path)!r})"]
    else:
        load = ["# your module, loaded from its file as the grader loads it",
                f"spec = importlib.util.spec_from_file_location({module!r}, {str(path)!r})",
                "student = sys.modules[spec.name] = importlib.util.module_from_spec(spec)",
                "spec.loader.exec_module(student)"]
    last = "result" if len(calls) == 1 else f"r{len(calls)}"
    blocks = [header, top + imports, build, load, call_lines + [f"print({last})"]]
    return "\n\n".join("\n".join(block) for block in blocks if block) + "\n"
