"""Helpers shared by the grader's tests: submission directories, manifests with
other settings, a throw-away copy of the course, and finding a check in a report."""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import re
import shutil
import tempfile
from pathlib import Path

import pytest

from grader.manifest import Manifest, load_manifest
import grader
from grader.results import CheckResult, ExerciseResult, GradeReport

SUBMISSIONS = Path(__file__).parent / "submissions"
HOSTILE = Path(__file__).parent / "hostile"  # submissions that attack the grader
ROOT = load_manifest().root  # the checkout under test


SOLUTION_IMPORT = re.compile(r"^from (solutions(?:\.\w+)+) import .*$", re.MULTILINE)


def inline_solutions(source: str) -> str:
    """A test submission may borrow the functions it does not test from the reference
    (``from solutions.level1.softmax import safe_softmax``). The grader refuses that
    import in the student's process, so the borrowed module's text is put in front
    of the submission instead: the submission's own definitions come later and win."""
    borrowed = []
    for module in dict.fromkeys(SOLUTION_IMPORT.findall(source)):
        borrowed.append((ROOT / Path(*module.split("."))).with_suffix(".py").read_text())
    return "\n\n".join(borrowed + [SOLUTION_IMPORT.sub("", source)])


def make_submission(directory: Path, files: dict[str, str | Path]) -> Path:
    """Lay out ``{"level1/softmax.py": source or path}`` under ``directory`` as
    exercises/ is laid out, and return ``directory``."""
    for relative, source in files.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(inline_solutions(source.read_text() if isinstance(source, Path) else source))
    return directory


def with_course_settings(**settings) -> Manifest:
    """The course's manifest with some [course] settings replaced (shorter timeouts,
    a smaller shrink budget)."""
    manifest = load_manifest()
    return dataclasses.replace(manifest, course=dataclasses.replace(manifest.course, **settings))


def find_check(report: GradeReport, exercise_id: str, check: str) -> CheckResult:
    exercise = next(e for e in report.exercises if e.id == exercise_id)
    return next(c for c in exercise.checks if c.name == check)


@pytest.fixture
def course_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the course root (course.toml, exercises/, solutions/) that the grader
    and the CLI use through $COURSE_ROOT, so a test may change files and settings
    and write .course/ without touching the checkout."""
    root = tmp_path / "course"
    root.mkdir()
    shutil.copy2(ROOT / "course.toml", root / "course.toml")
    for folder in ("exercises", "solutions"):
        shutil.copytree(ROOT / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setenv("COURSE_ROOT", str(root))
    return root


def set_course_setting(root: Path, key: str, value) -> None:
    """Rewrite one ``key = value`` line of the [course] table of ``root``/course.toml."""
    path = root / "course.toml"
    lines = path.read_text().splitlines(keepends=True)
    for i, line in enumerate(lines):
        if line.split("=")[0].strip() == key:
            lines[i] = f"{key} = {value}\n"
            path.write_text("".join(lines))
            return
    raise KeyError(f"course.toml has no line for {key}")


SUBMISSION_EXAMPLES = 10  # hypothesis examples per check: enough to find each bug there, fast on 2 cores


@functools.cache
def wrong_kernels(level: str):
    """scripts/<level>_wrong_kernels.py: the wrong kernels it makes from today's solution."""
    spec = importlib.util.spec_from_file_location(f"{level}_wrong_kernels", ROOT / "scripts" / f"{level}_wrong_kernels.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def submission_source(level: str, exercise: str, name: str) -> tuple[str, str]:
    """(suffix, text) of tests/submissions/<level>/<exercise>/<name>.py (or .cu), or,
    where there is no such file, of the wrong kernel ``name`` of
    scripts/<level>_wrong_kernels.py (made from the solution, so it never drifts)."""
    found = list((SUBMISSIONS / level / exercise).glob(f"{name}.*"))
    if found:
        (source,) = found
        return source.suffix, source.read_text()
    generator = wrong_kernels(level)
    return generator.SUFFIX, generator.wrong_kernel(name)


@functools.cache
def graded_submission(level: str, exercise: str, name: str, timing: bool = True, seed: int | None = None,
                      examples: int | None = SUBMISSION_EXAMPLES) -> ExerciseResult:
    """Grade the submission ``name`` (see submission_source) as <level>.<exercise> (once per run);
    ``seed`` and ``examples`` None: course.toml's."""
    with tempfile.TemporaryDirectory(prefix="course-submission-") as tmp:
        suffix, text = submission_source(level, exercise, name)
        directory = make_submission(Path(tmp), {f"{level}/{exercise}{suffix}": text})
        report = grader.grade(f"{level}.{exercise}", submission=directory, seed=seed, examples=examples,
                              timing=timing)
    (result,) = report.exercises
    return result


def check_of(result: ExerciseResult, name: str) -> CheckResult:
    return next(c for c in result.checks if c.name == name)


@dataclasses.dataclass(frozen=True)
class Wrong:
    """A wrong submission and how it must be rejected."""

    exercise: str
    submission: str  # file stem under tests/submissions/<level>/<exercise>/
    check: str  # the check that must catch it
    phrases: tuple[str, ...]  # each must appear in that check's message (summary, example, hint)
    status: str = "failed"  # "error" where the student code raises

    def __str__(self) -> str:
        return f"{self.exercise}/{self.submission}"


@pytest.fixture
def behind_the_fence(monkeypatch: pytest.MonkeyPatch) -> None:
    """Grade as if the source fence (grader/fence.py) let every file through. The
    hostile tests check the layers behind it (the child's guard, its namespaces and
    limits), which must hold on their own should a file ever slip past the fence."""
    monkeypatch.setattr("grader.runner._fence_verdict", lambda *args, **kwargs: None)
