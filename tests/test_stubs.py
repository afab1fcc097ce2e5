"""exercises/ is generated from solutions/: one source for every task statement."""

import ast

import pytest

from grader.manifest import load_manifest
from grader.stubs import make_stub, stub_for

MANIFEST = load_manifest()
PY_EXERCISES = [ex for ex in MANIFEST.exercises if ex.file.endswith(".py")]


@pytest.mark.parametrize("exercise", MANIFEST.exercises, ids=lambda ex: ex.id)
def test_committed_stub_is_generated_from_solution(exercise):
    """For a .cu exercise: exercises/ holds kernels/stubs/'s pristine text."""
    committed = (MANIFEST.root / "exercises" / exercise.file).read_text()
    assert committed == stub_for(MANIFEST, exercise.id), "run `python -m grader.stubs`"


@pytest.mark.parametrize("exercise", PY_EXERCISES, ids=lambda ex: ex.id)
def test_stub_teaches_and_raises(exercise):
    stub = (MANIFEST.root / "exercises" / exercise.file).read_text()
    tree = ast.parse(stub)
    doc = ast.get_docstring(tree)
    assert doc and "course grade" in doc  # the statement ends with how it is graded
    functions = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    assert [f.name for f in functions] == list(exercise.functions)
    for fn in functions:
        assert ast.get_docstring(fn)
        body = fn.body[1:]  # after the docstring: exactly one raise
        assert len(body) == 1 and isinstance(body[0], ast.Raise)
        assert exercise.id in ast.unparse(body[0])


def test_make_stub_keeps_public_api_only():
    source = '"""Task."""\n\nimport torch\n\nSCALE = 2\n\n\ndef _helper():\n    return 1\n\n\n' \
             'def f(x):\n    """Doc."""\n    return _helper() * x\n'
    stub = make_stub(source, "level9.demo")
    assert "_helper" not in stub and "SCALE" not in stub
    assert "def f(x):" in stub and "raise NotImplementedError('level9.demo.f: not implemented yet')" in stub


def test_make_stub_requires_docstrings():
    with pytest.raises(ValueError, match="no docstring"):
        make_stub("def f(x):\n    return x\n", "level9.demo")
