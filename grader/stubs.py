"""Generate a student stub from its reference solution (one source for the task text).

The stub keeps the solution's module docstring, its top-level imports and each
public function's signature and docstring; the body becomes one
``raise NotImplementedError`` naming the exercise. Private helpers and kernels
stay in the solution. `course reset` and ``python -m grader.stubs`` (which
rewrites exercises/) both use `make_stub`; tests/test_stubs.py checks that the
committed stubs are exactly what it produces.

A CUDA exercise's stub cannot be cut out of its solution (the task statement and the
kernel's design notes differ, and C++ has no docstrings), so its pristine text lives in
kernels/stubs/, beside the headers it includes, and exercises/ holds a copy.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from grader.manifest import Manifest, load_manifest


def make_stub(source: str, exercise_id: str) -> str:
    """The stub text for a solution's ``source``."""
    tree = ast.parse(source)
    lines = source.splitlines()
    parts: list[str] = []
    for node in tree.body:
        start = node.lineno - 1
        if isinstance(node, ast.Expr) and isinstance(getattr(node, "value", None), ast.Constant) \
                and node is tree.body[0]:
            parts.append("\n".join(lines[start:node.end_lineno]))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            parts.append("\n".join(lines[start:node.end_lineno]))
        elif isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
            if ast.get_docstring(node) is None:
                raise ValueError(f"{exercise_id}: public function {node.name} has no docstring")
            first = min([d.lineno for d in node.decorator_list] + [node.lineno]) - 1
            doc = node.body[0]
            indent = " " * node.body[0].col_offset
            message = f"{exercise_id}.{node.name}: not implemented yet"
            parts.append("\n".join(lines[first:doc.end_lineno]) + f"\n{indent}raise NotImplementedError({message!r})")
    return _join(parts)


def _join(parts: list[str]) -> str:
    """Docstring, imports grouped together, then functions two blank lines apart."""
    out = ""
    previous_import = False
    for part in parts:
        is_import = part.startswith(("import ", "from "))
        if out:
            out += "\n" if (is_import and previous_import) else ("\n\n" if is_import else "\n\n\n")
        out += part
        previous_import = is_import
    return out + "\n"


CU_STUBS = Path(__file__).resolve().parent.parent / "kernels" / "stubs"  # installed with the kernels package


def stub_for(manifest: Manifest, exercise_id: str) -> str:
    """The pristine stub of an exercise (FileNotFoundError when its source is missing)."""
    exercise = manifest.exercise(exercise_id)
    if not exercise.file.endswith(".py"):
        return (CU_STUBS / exercise.file).read_text()
    solution = manifest.root / "solutions" / exercise.file
    return make_stub(solution.read_text(), exercise_id)


def write_all(manifest: Manifest) -> list[Path]:
    """Rewrite every stub under exercises/ (from solutions/, or kernels/stubs/ for a
    .cu); returns the paths."""
    written = []
    for exercise in manifest.exercises:
        path = manifest.root / "exercises" / exercise.file
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(stub_for(manifest, exercise.id))
        written.append(path)
    return written


if __name__ == "__main__":
    for written_path in write_all(load_manifest()):
        print(written_path, file=sys.stderr)
