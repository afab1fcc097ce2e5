"""Grade a selection of exercises: the grader's Python API.

`grade` is what the CLI, the notebooks and the tests call. It never raises for
anything student code does: each exercise gets its own child process, each
check its own verdict, and a check that cannot run here is `not verified here`.
"""

from __future__ import annotations

import hashlib
import os
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import torch

import grader.checks  # noqa: F401 - registers every check
from grader import fence
from grader.checks.base import REGISTRY, Context
from grader.isolation import StudentProcess, sandbox_available
from grader.manifest import CheckSpec, ExerciseSpec, Manifest, load_manifest
from grader.results import ERROR, FAILED, NOT_VERIFIED, TIMEOUT, CheckResult, ExerciseResult, GradeReport


SECRET_ENV = "COURSE_SECRET_SEED"


def mix_secret(seed: int, secret: str | None) -> int:
    """The seed the examples are drawn from. For final grading an instructor sets
    $COURSE_SECRET_SEED: the examples then come from a hash of the secret and
    ``seed``, so no submission can be tuned to the examples a student has seen. The
    same secret gives the same examples, hence the same grade. Reports print
    ``seed`` and that a secret was mixed in, never the secret or this hash."""
    if not secret:
        return seed
    digest = hashlib.sha256(f"{secret}\0{seed}".encode()).digest()
    return int.from_bytes(digest[:4], "little") % 2**31  # as ordinary seeds: checks derive others from it


class Progress:
    """Callbacks for a progress display; the default shows nothing."""

    def start(self, exercise: ExerciseSpec, check: CheckSpec, total: int) -> None: ...

    def tick(self) -> None: ...

    def finish(self, result: CheckResult) -> None: ...


@dataclass(frozen=True)
class Machine:
    """What this process can verify."""

    device: str  # "cpu" or "cuda"
    capability: tuple[int, int] | None  # CUDA compute capability

    def can_verify(self, needs: str) -> bool:
        if needs == "cpu":
            return True
        if self.device != "cuda":
            return False
        return needs == "gpu" or (needs == "sm90" and self.capability == (9, 0))

    def why_not(self, needs: str) -> str:
        want = {"gpu": "a CUDA GPU", "sm90": "a Hopper GPU (sm_90)"}[needs]
        have = "no GPU in use" if self.device == "cpu" else f"compute capability {self.capability}"
        return f"needs {want}; this run has {have}"


def resolve_device(device: str) -> Machine:
    """'auto' picks CUDA when present. Raises ValueError for 'cuda' without a GPU."""
    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"--device must be auto, cpu or cuda, got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA GPU is visible to torch here")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    capability = torch.cuda.get_device_capability() if device == "cuda" else None
    return Machine(device, capability)


def grade(
    target: str = "all",
    *,
    submission: Path | None = None,
    solutions: bool = False,
    device: str = "auto",
    seed: int | None = None,
    examples: int | None = None,
    timing: bool = True,
    sandbox: bool = False,
    manifest: Manifest | None = None,
    progress: Progress | None = None,
) -> GradeReport:
    """Grade ``target`` ('all', 'level2', 'level2.flash_v2') and return the report.

    ``submission`` is a directory laid out like exercises/ (default: exercises/,
    or solutions/ with ``solutions=True``). Raises KeyError for an unknown target,
    ValueError for a bad device, FileNotFoundError for a missing submission dir.
    ``sandbox`` runs each child under bubblewrap (ValueError where it is missing).
    """
    manifest = manifest or load_manifest()
    progress = progress or Progress()
    chosen = manifest.select(target)
    machine = resolve_device(device)
    if sandbox and not sandbox_available():
        raise ValueError("--sandbox needs bubblewrap (`bwrap`), which is not installed here")
    if submission is None:
        submission = manifest.root / ("solutions" if solutions else "exercises")
    submission = Path(submission)
    if not submission.is_dir():
        raise FileNotFoundError(f"submission directory {submission} does not exist")
    seed = manifest.course.seed if seed is None else seed
    secret = os.environ.get(SECRET_ENV)
    report = GradeReport(target=target, device=machine.device, seed=seed, secret=bool(secret))
    for exercise in chosen:
        report.exercises.append(
            _grade_exercise(manifest, exercise, submission, machine, mix_secret(seed, secret), examples, timing,
                            sandbox, progress)
        )
    return report


def _grade_exercise(manifest, exercise, submission, machine, seed, examples, timing, sandbox, progress) -> ExerciseResult:
    result = ExerciseResult(exercise.id, bonus=exercise.bonus)
    path = submission / exercise.file
    env = {"TRITON_INTERPRET": "1"} if exercise.interpret_on_cpu and machine.device == "cpu" else {}
    env[SECRET_ENV] = ""  # student code must not read the secret
    course = manifest.course
    source = path.read_bytes() if path.is_file() else None
    refused = _fence_verdict(source, path.name, triton=exercise.interpret_on_cpu) if source is not None else None
    with StudentProcess(path, f"student_{exercise.level}_{exercise.name}", env=env, root=manifest.root,
                        call_timeout=course.call_timeout_s, import_timeout=course.import_timeout_s,
                        device=machine.device, sandbox=sandbox, source=source,
                        memory_limit_gib=course.memory_limit_gib, cpu_limit_s=course.exercise_budget_s) as student:
        # One budget for the whole exercise: slow-but-correct code cannot stretch a run to hours.
        student.deadline = time.monotonic() + course.exercise_budget_s
        for spec in exercise.checks:
            count = examples or spec.examples or course.examples
            progress.start(exercise, spec, count)
            if source is None:
                check = CheckResult(spec.id, ERROR, spec.points, f"{path} not found")
            elif refused is not None:
                check = CheckResult(spec.id, FAILED, spec.points, **refused)
            elif not machine.can_verify(spec.needs):
                check = CheckResult(spec.id, NOT_VERIFIED, spec.points, machine.why_not(spec.needs))
            elif student.budget_spent():
                check = CheckResult(spec.id, TIMEOUT, spec.points,
                                    f"not run: the exercise's time budget of {course.exercise_budget_s:g} s ran out")
            else:
                ctx = Context(manifest=manifest, exercise=exercise, check=spec, student=student,
                              device=machine.device, seed=seed, examples=count,
                              reference_path=manifest.root / "solutions" / exercise.file,
                              timing=timing, tick=progress.tick,
                              earlier={c.name: c for c in result.checks})
                started = time.perf_counter()
                check = _run_check(ctx)
                check.seconds = time.perf_counter() - started
            progress.finish(check)
            result.checks.append(check)
    return result


def _fence_verdict(source: bytes, filename: str, *, triton: bool) -> dict | None:
    """The result fields of every check when a Python file breaches the source fence
    (grader/fence.py), None when it may run. The child imports these same bytes."""
    if not filename.endswith(".py"):
        return None
    found = fence.breaches(source.decode("utf-8", errors="replace"), triton=triton)
    if not found:
        return None
    rest = [breach.describe(filename) for breach in found[1:6]] + ([f"(and {len(found) - 6} more)"] * (len(found) > 6))
    return {"summary": f"not run: {found[0].describe(filename)}", "details": "\n".join(rest),
            "hint": f"{fence.WHY}; remove what is listed (experiments belong in a scratch file or a notebook)"}


def _run_check(ctx: Context) -> CheckResult:
    fn = REGISTRY.get((ctx.exercise.id, ctx.check.id))
    if fn is None:
        return ctx.result(ERROR, f"grader error: no check is registered as {ctx.exercise.id}.{ctx.check.id}")
    try:
        return fn(ctx)
    except Exception:  # noqa: BLE001 - a grader bug must not take other checks down, nor pass
        return ctx.result(ERROR, "grader error (not your fault): please report it",
                          details=traceback.format_exc(limit=-4))
