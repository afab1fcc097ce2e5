"""The source fence (grader/fence.py): every route we know of that hides work from the
op recorder is refused, naming the line; ordinary exercise code, every solution and
every stub get through; and a fenced file is never run (all its checks fail, saying
why), from the CLI as from the API."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import grader
from conftest import HOSTILE, ROOT, make_submission
from grader import fence

REFUSED = [
    # (what a student might write, a phrase of the refusal)
    ("import numpy as np", "imports numpy"),
    ("import threading", "imports threading"),
    ("from concurrent.futures import ThreadPoolExecutor", "imports from concurrent.futures"),
    ("from torch.utils._python_dispatch import _disable_current_modes", "imports from torch.utils._python_dispatch"),
    ("import torch.utils", "imports torch.utils"),
    ("from torch import _C", "imports the private name _C"),
    ("import torch\nwith torch._C._DisableTorchDispatch(): pass", "private name _C"),
    ("import torch\ntorch.library.custom_op('my::op', mutates_args=())", "uses .library"),
    ("import torch\ny = torch.ops.aten._softmax", "uses .ops"),
    ("import torch\nf = torch.compile(lambda x: x)", "uses .compile"),
    ("import torch\ng = torch.cuda.CUDAGraph()", "uses .CUDAGraph"),
    ("import torch\nf = torch.jit.script(lambda x: x)", "uses .jit other than as a decorator"),
    ("import torch\n@torch.jit.script\ndef f(x):\n    return x", "uses .jit other than as a decorator"),
    ("import torch\nsoftmax = getattr(torch, 'soft' + 'max')", "uses getattr"),
    ("x = eval('1 + 1')", "uses eval"),
    ("exec('import numpy')", "uses exec"),
    ("np = __import__('numpy')", "uses __import__"),
    ("t = vars()", "uses vars"),
    ("text = open('/etc/passwd').read()", "uses open"),
    ("def f(x):\n    return x.numpy().max()", "uses .numpy"),
    ("def f(x):\n    return max(x.tolist())", "uses .tolist"),
    ("def f(x):\n    return x.apply_(abs)", "uses .apply_"),
    ("import torch\ntorch.softmax = lambda x, dim: x", "assigns the attribute .softmax"),
    ("import torch\nt = torch\nt.matmul = None", "assigns the attribute .matmul"),
    ("walk = ().__class__.__base__.__subclasses__()", "reads __class__"),
    ("def f():\n    return f.__globals__", "reads __globals__"),
    ("import torch\nclass T(torch.Tensor):\n    def __torch_function__(cls, *a):\n        pass", "defines __torch_function__"),
    ("import typing\nhints = typing.get_type_hints(len)", "uses .get_type_hints"),
    ("from torch import *", "imports * (name what you use)"),
    ("from . import helper", "imports from ."),
    ("import triton", "imports triton"),  # not in a PyTorch exercise
    ("import grader.oracle", "imports grader.oracle"),
    ("from grader.child import recorder", "imports from grader.child"),
]

ALLOWED = [
    "import math\nimport torch\nimport torch.nn.functional as F\nfrom typing import Optional",
    "from grader.contract import check_tensor, resolve_scale",
    "import os\ninterpret = os.environ.get('TRITON_INTERPRET') == '1'",
    "def f(x):\n    raise ValueError(f'x must be a tensor, got {type(x).__name__}')",
    "class Tiles:\n    def __init__(self, n):\n        self._n = n\n    def count(self):\n        return self._n",
    "import functools\n@functools.cache\ndef blocks(n):\n    return list(range(n))",
    "from dataclasses import dataclass, replace\n@dataclass\nclass C:\n    block: int = 64\nc = replace(C(), block=32)",
]

TRITON_ALLOWED = ("import triton\nimport triton.language as tl\n"
                  "@triton.jit\ndef _kernel(X, BLOCK: tl.constexpr):\n    pass\n"
                  "def run_it(x):\n    _kernel[(1,)](x, BLOCK=16)")


@pytest.mark.parametrize("source, phrase", REFUSED, ids=[r[1] for r in REFUSED])
def test_each_route_out_of_the_recorders_sight_is_refused_by_line(source: str, phrase: str):
    found = fence.breaches(source, triton=False)
    assert found, f"the fence let through:\n{source}"
    described = [breach.describe("softmax.py") for breach in found]
    assert any(phrase in text for text in described), described
    assert all(text.startswith("line ") for text in described)


@pytest.mark.parametrize("source", ALLOWED)
def test_ordinary_exercise_code_gets_through(source: str):
    assert fence.breaches(source, triton=False) == []


def test_a_triton_exercise_may_import_triton_and_decorate_with_jit():
    assert fence.breaches(TRITON_ALLOWED, triton=True) == []
    assert fence.breaches(TRITON_ALLOWED, triton=False)  # a PyTorch exercise may not


@pytest.mark.parametrize("path", sorted((ROOT / "solutions").rglob("*.py")) + sorted((ROOT / "exercises").rglob("*.py")),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_every_solution_and_stub_gets_through(path: Path):
    exercise = next((e for e in grader.manifest.load_manifest().exercises
                     if e.file == str(path.relative_to(path.parents[1]))), None)
    triton = bool(exercise and exercise.interpret_on_cpu)
    assert fence.breaches(path.read_text(), triton=triton) == []


@pytest.mark.parametrize("module", ["dispatch_escape", "thread_full_matrix", "numpy_full_matrix", "custom_op",
                                    "patch_recorder", "ctypes_escape", "import_oracle", "import_solution",
                                    "stack_walk", "gc_socket", "leak_solution", "edit_grader"])
def test_the_known_attacks_never_get_past_the_fence(module: str):
    assert fence.breaches((HOSTILE / f"{module}.py").read_text(), triton=False)


def test_a_fenced_file_is_not_run_and_every_check_says_why(tmp_path: Path):
    """A correct online softmax that also imports numpy: nothing runs, every check of
    the exercise fails naming the line, and the other exercises are graded as usual."""
    reference = (ROOT / "solutions" / "level1" / "softmax.py").read_text()
    submission = make_submission(tmp_path, {
        "level1/softmax.py": "import numpy as np\n" + reference,
        "level1/merge.py": ROOT / "solutions" / "level1" / "merge.py",
    })
    report = grader.grade("level1", submission=submission, examples=2)
    by_id = {e.id: e for e in report.exercises}
    softmax = by_id["level1.softmax"]
    assert softmax.score == 0 and softmax.checks
    for check in softmax.checks:
        assert check.status == "failed"
        assert check.message.startswith("not run: line 1 of softmax.py imports numpy"), check.message
        assert "public API" in check.hint
        assert check.seconds < 1.0  # no child was started
    assert by_id["level1.merge"].score == by_id["level1.merge"].max_score


def test_the_refusal_lists_every_breach_once(tmp_path: Path):
    source = textwrap.dedent("""\
        import numpy
        import threading
        import torch


        def safe_softmax(x):
            return torch.from_numpy(x.numpy())
        """)
    submission = make_submission(tmp_path, {"level1/softmax.py": source})
    (softmax,) = grader.grade("level1.softmax", submission=submission, examples=2).exercises
    message = softmax.checks[0].message
    assert "line 1 of softmax.py imports numpy" in message
    assert "line 2 of softmax.py imports threading" in message
    assert "line 7 of softmax.py uses .numpy" in message
