"""`course repro CHECK`: the script rebuilds the smallest failing input of the last
failure and calls the student's function on it, and running it shows the same wrong
answer the grader reported.

The scripts run in a fresh Python process, as a student would run them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner, Result

from conftest import ROOT, SUBMISSIONS, make_submission
from grader.cli import main
from grader.inputs import AttentionCase, SoftmaxCase
from grader.repro import Call, snippet

EXAMPLES = "8"


def course(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def run_script(source: str, tmp_path: Path, extra: str = "") -> str:
    """Run ``source`` (then ``extra``) as ``python script.py``; return its stdout."""
    script = tmp_path / "repro.py"
    script.write_text(source + extra)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    return done.stdout


def grade_own(course_copy: Path, exercise: str, submission: Path) -> Result:
    """Put ``submission`` in the copy's exercises/ and grade it as the student would."""
    level, name = exercise.split(".")
    make_submission(course_copy / "exercises", {f"{level}/{name}.py": submission})
    return course("grade", exercise, "--examples", EXAMPLES)


# ----------------------------------------------------------------------------- end to end


def test_repro_rebuilds_the_reported_failure(course_copy: Path, tmp_path: Path):
    graded = grade_own(course_copy, "level1.softmax", SUBMISSIONS / "level1" / "softmax" / "online_no_rescale.py")
    assert graded.exit_code == 1, graded.output
    assert "course repro level1.softmax.online_softmax" in graded.stdout

    result = course("repro", "level1.softmax.online_softmax")
    assert result.exit_code == 0, result.output
    script = result.stdout
    assert script.startswith("# course repro level1.softmax.online_softmax\n")
    assert "from grader.inputs import SoftmaxCase" in script
    assert str(course_copy / "exercises" / "level1" / "softmax.py") in script

    reported = re.search(r"at \[([\d, ]+)\] \(expected ([-\d.e+]+), got ([-\d.e+]+)\)", graded.stdout)
    index, expected, got = reported.group(1), float(reported.group(2)), float(reported.group(3))
    out = run_script(script, tmp_path, extra=(
        "from grader import oracle\n"
        f"print('AT', result[{index}].item(), 'ORACLE', oracle.softmax(x)[{index}].item())\n"))
    at = re.search(r"AT (\S+) ORACLE (\S+)", out)
    assert float(at.group(1)) == pytest.approx(got, rel=1e-5)  # the same wrong value the grader saw
    assert float(at.group(2)) == pytest.approx(expected, rel=1e-5)
    assert abs(got - expected) > 1e-3


def test_repro_replays_every_call_of_a_property_check(course_copy: Path, tmp_path: Path):
    """stats_properties calls merge_softmax_stats seven times on one case; the script
    replays them, and one of the results holds the NaN the grader reported."""
    graded = grade_own(course_copy, "level1.merge", SUBMISSIONS / "level1" / "merge" / "stats_nan_two_empty.py")
    assert graded.exit_code == 1, graded.output
    result = course("repro", "level1.merge.stats_properties")
    assert result.exit_code == 0, result.output
    calls = re.findall(r"^r\d+ = student\.merge_softmax_stats\(", result.stdout, flags=re.MULTILINE)
    assert len(calls) > 1
    out = run_script(result.stdout, tmp_path, extra=(
        "import re\n"
        "found = [n for n, v in list(globals().items()) if re.fullmatch(r'r\\d+', n) and any(t.isnan().any() for t in v)]\n"
        "print('NAN IN', found)\n"))
    assert re.search(r"NAN IN \['r\d+'", out), out


def test_repro_without_a_recorded_failure_says_how_to_get_one(course_copy: Path):
    result = course("repro", "level1.softmax.online_softmax")
    assert result.exit_code == 1
    assert "course grade level1.softmax" in result.stderr
    assert "Traceback" not in result.output


def test_repro_of_an_unknown_check_is_a_usage_error():
    result = course("repro", "level1.softmax.nonsense")
    assert result.exit_code == 2
    assert "level2.flash_v2.oracle" in result.stderr  # what a check name looks like
    exercise = course("repro", "level1.softmax")
    assert exercise.exit_code == 2
    assert "level1.softmax.online_softmax" in exercise.stderr  # the exercise's checks


# ----------------------------------------------------------------------------- the script itself


WRONG_ATTENTION = '''
import torch

def naive_attention(q, k, v, causal=False, softmax_scale=None):
    """Wrong: the scale is ignored."""
    s = q.float() @ k.float().transpose(-1, -2)
    lse = torch.logsumexp(s, dim=-1)
    return (torch.exp(s - lse[..., None]) @ v.float()).to(q.dtype), lse
'''


def test_snippet_runs_on_transposed_views_and_returns_the_wrong_answer(tmp_path: Path):
    case = AttentionCase(1, 2, 1, 5, 7, 16, 8, "float16", False, 0.3, True, 1.0, 42)
    q, k, v = case.tensors()
    module = tmp_path / "naive_attention.py"
    module.write_text(WRONG_ATTENTION)
    source = snippet(case, [Call("naive_attention", (q, k, v), case.kwargs(), None)],
                     check_id="level1.naive_attention.oracle", path=module, module="student_naive",
                     device="cpu", interpret=False, verdict="|out - oracle| = 0.1\nhint: the scale is ignored")
    assert "q, k, v = case.tensors()" in source
    assert "#   hint: the scale is ignored" in source
    out = run_script(source, tmp_path, extra=(
        "from grader import oracle\n"
        "print('STRIDES', q.stride() == case.tensors()[0].stride(), not q.is_contiguous())\n"
        "print('ERR', (result[0].double() - oracle.attention(q, k, v, False, 0.3)[0]).abs().max().item())\n"))
    assert "STRIDES True True" in out
    assert float(re.search(r"ERR (\S+)", out).group(1)) > 1e-2


def test_snippet_writes_small_made_tensors_and_sets_the_interpreter(tmp_path: Path):
    case = SoftmaxCase(2, 3, "bfloat16", 16, 1.0, False, False, 5)
    x = case.tensor()
    made = torch.tensor([[1.5, -float("inf"), 0.25]], dtype=torch.bfloat16)
    source = snippet(case, [Call("f", (x, made, torch.full((2,), float("-inf")), 3), {"flag": None}, None)],
                     check_id="level2.x.y", path=tmp_path / "m.py", module="m", device="cpu", interpret=True,
                     verdict="wrong")
    assert source.index('os.environ["TRITON_INTERPRET"] = "1"') < source.index("import torch")
    assert ('result = student.f(x, torch.tensor([[1.5, float("-inf"), 0.25]], dtype=torch.bfloat16), '
            'torch.full([2], float("-inf"), dtype=torch.float32), 3, flag=None)') in source


def test_no_snippet_when_an_input_cannot_be_rebuilt(tmp_path: Path):
    case = SoftmaxCase(2, 3, "float32", 16, 1.0, False, False, 5)
    made_inside = torch.randn(40, 40)  # neither the case's, nor constant, nor small
    assert snippet(case, [Call("f", (made_inside,), {}, None)], check_id="a.b.c", path=tmp_path / "m.py",
                   module="m", device="cpu", interpret=False, verdict="") is None
