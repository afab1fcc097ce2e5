"""The `course` command through Click's CliRunner: list, doctor, grade (exit codes,
usage errors, targets given as files, the JSON and Gradescope formats, --seed) and
reset. (`course repro` is in test_repro.py, secret seeds in test_secret_seed.py.)

Runs that grade the stubs or write files use `course_copy`, a throw-away course root
reached through $COURSE_ROOT, so the checkout's exercises/ and .course/ are never
touched.
"""

from __future__ import annotations

import json
import subprocess
import sys
import re
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner, Result

from conftest import ROOT, SUBMISSIONS, make_submission, set_course_setting
from grader import report
from grader.cli import main
from grader.isolation import sandbox_available
from grader.manifest import load_manifest
from grader.stubs import stub_for

EXAMPLES = "8"


def course(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def level1_exercises() -> list[str]:
    return [e.id for e in load_manifest().select("level1")]


# ----------------------------------------------------------------------------- list, doctor


def test_grading_needs_no_notebook_packages():
    """nbformat (and nbgrader) serve `course nbgrader` only: a machine without them
    (the course's offline GPU machine has none) still grades."""
    code = "import sys, grader.cli, grader.runner; print(sorted(m for m in sys.modules if m.startswith(('nbformat', 'nbgrader'))))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout


def test_list_shows_every_exercise_with_its_points():
    result = course("list")
    assert result.exit_code == 0, result.output
    for exercise in load_manifest().exercises:
        row = next(line for line in result.stdout.splitlines() if f" {exercise.id} " in line)
        assert f" {exercise.max_score} " in row, row


def test_list_shows_the_last_result(course_copy: Path, monkeypatch: pytest.MonkeyPatch):
    wide_console(monkeypatch)
    assert course("grade", "level1.merge", "--format", "json", "--examples", EXAMPLES).exit_code == 1
    row = next(line for line in course("list").stdout.splitlines() if " level1.merge " in line)
    assert "not implemented 0/9 on" in row, row
    assert "not graded yet" not in row


def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows on one line each: CliRunner's output is no terminal, so rich assumes 80 columns."""
    monkeypatch.setattr(report.console, "width", 200)


def test_list_shows_level_totals_and_gpu_only_points(monkeypatch: pytest.MonkeyPatch):
    wide_console(monkeypatch)
    manifest = load_manifest()
    lines = [line.strip() for line in course("list").stdout.splitlines()]
    for level in manifest.levels:
        exercises = [e for e in manifest.exercises if e.level == level.id]
        regular = sum(e.max_score for e in exercises if not e.bonus)
        bonus = sum(e.max_score for e in exercises if e.bonus)
        gpu = sum(c.points for e in exercises for c in e.checks if c.needs != "cpu")
        row = next(line for line in lines if line.startswith(f"{level.id} total"))
        points = f"{regular} + {bonus} bonus" if bonus else str(regular)
        assert re.split(r"\s{2,}", row)[1:] == [points] + ([str(gpu)] if gpu else []), row
    total = next(line for line in lines if line.startswith("course total:"))
    assert f"{sum(e.max_score for e in manifest.exercises if not e.bonus)} points" in total


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a CUDA GPU")
def test_list_tells_failed_points_from_points_that_need_a_gpu(course_copy: Path, monkeypatch: pytest.MonkeyPatch):
    """The Triton stub on a CPU machine: its CPU checks are not implemented, its GPU
    checks not verified; the row says which is which."""
    wide_console(monkeypatch)
    exercise = load_manifest().exercise("level2.flash_v2_triton")
    cpu = sum(c.points for c in exercise.checks if c.needs == "cpu")
    gpu = exercise.max_score - cpu
    assert course("grade", "level2.flash_v2_triton", "--examples", "2").exit_code == 1
    row = next(line for line in course("list").stdout.splitlines() if " level2.flash_v2_triton " in line)
    assert f"not implemented 0/{cpu} on cpu; {gpu} pts need a CUDA GPU" in row, row


def test_doctor_exits_0_and_reports_torch():
    result = course("doctor")
    assert result.exit_code == 0, result.output
    assert torch.__version__ in result.stdout
    assert "triton" in result.stdout


# ----------------------------------------------------------------------------- grade


@pytest.mark.slow
def test_grade_solutions_gives_full_marks_in_the_spec_json_schema():
    result = course("grade", "level1", "--solutions", "--format", "json", "--examples", EXAMPLES)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)

    assert set(data) == {"target", "device", "seed", "score", "max_score", "exercises"}
    assert (data["target"], data["device"], data["seed"]) == ("level1", "cpu" if not torch.cuda.is_available()
                                                              else "cuda", load_manifest().course.seed)
    assert [e["id"] for e in data["exercises"]] == level1_exercises()
    for exercise in data["exercises"]:
        assert set(exercise) == {"id", "score", "max_score", "status", "checks"}
        assert exercise["status"] == "passed"
        assert exercise["score"] == exercise["max_score"] == sum(c["max_score"] for c in exercise["checks"])
        for check in exercise["checks"]:
            # the spec's fields, and the structured ones a check may add
            assert set(check) == {"name", "status", "score", "max_score", "message",
                                  "example", "error", "allowed", "hint", "seconds"}
            assert check["status"] == "passed" and check["score"] == check["max_score"] > 0
            assert isinstance(check["message"], str) and check["message"]
            assert (check["example"], check["error"], check["allowed"], check["hint"]) == ("", None, None, "")
            assert isinstance(check["seconds"], float) and 0 < check["seconds"] < 600
    assert data["score"] == data["max_score"] == sum(e["max_score"] for e in data["exercises"]) > 0


def test_grade_stubs_exits_1_with_every_check_not_implemented(course_copy: Path):
    result = course("grade", "level1.merge", "--format", "json", "--examples", EXAMPLES)
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    (merge,) = data["exercises"]
    assert merge["id"] == "level1.merge" and merge["status"] == "not implemented"
    assert [c["status"] for c in merge["checks"]] == ["not implemented"] * len(merge["checks"]) != []
    assert all("NotImplementedError" in c["message"] for c in merge["checks"])
    assert data["score"] == merge["score"] == 0 < data["max_score"]
    last = json.loads((course_copy / ".course" / "last_results.json").read_text())
    assert last["level1.merge"]["status"] == "not implemented"


def test_unknown_target_is_a_usage_error_naming_it():
    result = course("grade", "level9")
    assert result.exit_code == 2
    assert "'level9'" in result.stderr
    assert "level1" in result.stderr  # and what would have been valid


def test_missing_submission_dir_is_a_usage_error():
    result = course("grade", "level1", "--submission", "/does/not/exist")
    assert result.exit_code == 2
    assert "/does/not/exist" in result.stderr


def test_solutions_and_submission_together_are_a_usage_error(tmp_path: Path):
    result = course("grade", "level1", "--solutions", "--submission", str(tmp_path))
    assert result.exit_code == 2
    assert "--solutions" in result.stderr and "--submission" in result.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a CUDA GPU")
def test_device_cuda_without_a_gpu_is_a_usage_error():
    result = course("grade", "level1", "--solutions", "--device", "cuda")
    assert result.exit_code == 2
    assert "cuda" in result.stderr.lower()


def test_gradescope_results_json(tmp_path: Path):
    """A submission with a wrong online_softmax: one Gradescope test per check, the
    failing ones scored 0, the total the sum of the tests."""
    submission = make_submission(tmp_path / "submission", {
        "level1/softmax.py": SUBMISSIONS / "level1" / "softmax" / "online_no_rescale.py"})
    output = tmp_path / "results.json"
    result = course("grade", "level1.softmax", "--submission", str(submission), "--format", "gradescope",
                    "--output", str(output), "--examples", EXAMPLES)
    assert result.exit_code == 1, result.output
    assert result.stdout == ""  # the report went to the file

    data = json.loads(output.read_text())
    tests = data["tests"]
    check_ids = [c.id for c in load_manifest().exercise("level1.softmax").checks]
    assert [t["name"].split(": ")[-1] for t in tests] == check_ids
    for test in tests:
        assert {"name", "score", "max_score", "status", "output", "visibility"} <= set(test)
        assert test["status"] in ("passed", "failed")  # the two Gradescope knows
        assert test["visibility"] in ("visible", "hidden", "after_due_date", "after_published")
        assert test["score"] == (test["max_score"] if test["status"] == "passed" else 0)
    statuses = {t["name"].split(": ")[-1]: t["status"] for t in tests}
    assert statuses == {"safe_softmax": "passed", "online_softmax": "failed", "online_blockwise": "failed"}
    failing = next(t for t in tests if t["name"].endswith("online_softmax"))
    assert "rescale" in failing["output"]
    assert data["score"] == sum(t["score"] for t in tests) > 0


def test_failing_json_check_has_its_structured_fields(tmp_path: Path):
    submission = make_submission(tmp_path / "submission", {
        "level1/softmax.py": SUBMISSIONS / "level1" / "softmax" / "online_no_rescale.py"})
    result = course("grade", "level1.softmax", "--submission", str(submission), "--format", "json",
                    "--examples", EXAMPLES)
    assert result.exit_code == 1, result.output
    check = next(c for c in json.loads(result.stdout)["exercises"][0]["checks"] if c["name"] == "online_softmax")
    assert check["status"] == "failed"
    assert check["example"].startswith("x[") and check["example"] in check["message"]
    assert check["error"] > check["allowed"] > 0
    assert "rescale" in check["hint"] and check["hint"] in check["message"]
    assert check["seconds"] > 0


# ----------------------------------------------------------------------------- targets given as files


def test_grade_accepts_an_exercise_file_relative_or_absolute(course_copy: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(course_copy)
    for target in ("exercises/level1/merge.py", str(course_copy / "exercises" / "level1" / "merge.py")):
        result = course("grade", target, "--format", "json", "--examples", "2")
        assert result.exit_code == 1, result.output  # the stubs: not implemented
        data = json.loads(result.stdout)
        assert data["target"] == "level1.merge"
        assert [e["id"] for e in data["exercises"]] == ["level1.merge"]
    monkeypatch.chdir(course_copy / "exercises" / "level1")
    assert json.loads(course("grade", "merge.py", "--format", "json", "--examples", "2").stdout)["target"] \
        == "level1.merge"


def test_grade_accepts_a_file_under_the_submission_dir(tmp_path: Path):
    submission = make_submission(tmp_path / "submission", {
        "level1/softmax.py": SUBMISSIONS / "level1" / "softmax" / "online_no_rescale.py"})
    result = course("grade", str(submission / "level1" / "softmax.py"), "--submission", str(submission),
                    "--format", "json", "--examples", "2")
    assert [e["id"] for e in json.loads(result.stdout)["exercises"]] == ["level1.softmax"]


def test_select_by_file():
    manifest = load_manifest()
    exercises = manifest.root / "exercises"
    assert [e.id for e in manifest.select(str(exercises / "level2" / "flash_v2.py"))] == ["level2.flash_v2"]
    solutions = manifest.root / "solutions"
    assert [e.id for e in manifest.select(str(solutions / "level1" / "softmax.py"), solutions)] == ["level1.softmax"]
    with pytest.raises(KeyError, match="not under"):
        manifest.select(str(solutions / "level1" / "softmax.py"))  # exercises/ is the one graded
    with pytest.raises(KeyError, match="no exercise is graded from level1/nothing.py"):
        manifest.select(str(exercises / "level1" / "nothing.py"))


def test_a_file_outside_the_graded_dir_is_a_usage_error(tmp_path: Path):
    stray = tmp_path / "softmax.py"
    stray.write_text("")
    result = course("grade", str(stray))
    assert result.exit_code == 2
    assert str(stray) in result.stderr and "not under" in result.stderr


@pytest.mark.slow
def test_seed_reproduces_the_report(course_copy: Path, tmp_path: Path):
    """With shrinking cut to nothing, the failure reported is the first one drawn, so
    it depends on the seed alone: the same seed gives the same JSON, another seed
    another example."""
    set_course_setting(course_copy, "shrink_budget_s", 0)
    submission = make_submission(tmp_path / "submission", {
        "level1/softmax.py": SUBMISSIONS / "level1" / "softmax" / "online_no_rescale.py"})

    def run(seed: str) -> dict:
        result = course("grade", "level1.softmax", "--submission", str(submission), "--format", "json",
                        "--seed", seed, "--examples", EXAMPLES)
        assert result.exit_code == 1, result.output
        return json.loads(result.stdout)

    def without_timings(report: dict) -> dict:
        for exercise in report["exercises"]:
            for check in exercise["checks"]:
                check.pop("seconds")
        return report

    first, again, other = (without_timings(run(seed)) for seed in ("7", "7", "8"))
    assert first == again
    assert (first["seed"], other["seed"]) == (7, 8)

    def failure(report: dict) -> str:
        return next(c["message"] for c in report["exercises"][0]["checks"] if c["name"] == "online_softmax")

    assert failure(first) != failure(other)


# ----------------------------------------------------------------------------- reset


def test_reset_backs_up_the_student_file_and_restores_the_stub(course_copy: Path):
    student = course_copy / "exercises" / "level1" / "softmax.py"
    mine = '"""My softmax, half done."""\n\n\ndef safe_softmax(x):\n    return x\n'
    student.write_text(mine)

    result = course("reset", "level1.softmax")
    assert result.exit_code == 0, result.output
    stub = stub_for(load_manifest(course_copy), "level1.softmax")
    assert "raise NotImplementedError" in stub
    assert student.read_text() == stub
    backups = sorted((course_copy / ".course" / "backups").rglob("*.py"))
    assert [b.relative_to(b.parents[1]) for b in backups] == [Path("level1/softmax.py")]
    assert backups[0].read_text() == mine

    again = course("reset", "level1.softmax")  # the stub is unchanged: nothing to back up
    assert again.exit_code == 0, again.output
    assert student.read_text() == stub
    assert sorted((course_copy / ".course" / "backups").rglob("*.py")) == backups
    assert backups[0].read_text() == mine


def test_reset_restores_a_cuda_stub_too(course_copy: Path):
    student = course_copy / "exercises" / "level3" / "flash_fwd.cu"
    mine = "// my kernel, half done\n"
    student.write_text(mine)
    result = course("reset", "level3.flash_fwd")
    assert result.exit_code == 0, result.output
    assert student.read_text() == (ROOT / "kernels" / "stubs" / "level3" / "flash_fwd.cu").read_text()
    assert "course::NotImplemented" in student.read_text()
    (backup,) = (course_copy / ".course" / "backups").rglob("flash_fwd.cu")
    assert backup.read_text() == mine


def test_sandbox_without_bubblewrap_is_a_usage_error(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(sys.modules["grader.cli.grade"], "sandbox_available", lambda: False)
    result = course("grade", "level1.merge", "--solutions", "--sandbox")
    assert result.exit_code == 2
    assert "--sandbox needs bubblewrap" in result.output


@pytest.mark.skipif(not sandbox_available(), reason="bubblewrap (bwrap) is not installed")
def test_sandbox_grades_the_solutions_in_full():
    result = course("grade", "level1.merge", "--solutions", "--sandbox", "--format", "json", "--examples", EXAMPLES)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["score"] == data["max_score"] > 0
