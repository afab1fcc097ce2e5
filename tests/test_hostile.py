"""Submissions that attack the grader (tests/hostile/, each file's docstring says what it
tries) score zero with an honest status and message, within the per-call timeouts;
the rest of the run is graded; nothing outside the submission changes; and no
process of theirs is left. docs/GRADING.md ("Threat model") says what is guaranteed.

Each attack is submitted as level1/softmax.py beside the reference level1/merge.py
and graded as "level1" against a throw-away copy of the course (`course_copy`).
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

import grader
from conftest import HOSTILE, ROOT, make_submission, with_course_settings
from grader.cli import main
from grader.isolation import StudentProcess, _unshare_works, sandbox_available

EXAMPLES = 3
# Most of these files are stopped by the source fence before a child starts
# (tests/test_fence.py); here they test what stands behind it.
pytestmark = pytest.mark.usefixtures("behind_the_fence")
FORGED = '"score": 23'
GRADER_FILE = ROOT / "grader" / "tolerance.py"  # what edit_grader attacks


@dataclass(frozen=True)
class Attack:
    module: str  # file stem under tests/hostile/
    statuses: tuple[str, ...]  # what each softmax check may honestly report
    phrases: tuple[str, ...] = ()  # each must appear in every softmax check's message
    env: dict = field(default_factory=dict)  # what the attacker is told
    settings: dict = field(default_factory=dict)  # [course] settings for this run

    def __str__(self) -> str:
        return self.module


ATTACKS = [
    Attack("kill_parent", ("error",), ("does not allow sending signals",)),
    Attack("parent_stdout", ("failed", "error")),  # its own PID namespace shows it no other process
    Attack("edit_grader", ("error",), ("does not allow writing to", "tolerance.py")),
    Attack("rewrite_course", ("error",), ("does not allow writing to",)),
    Attack("import_oracle", ("error",), ("does not allow importing grader.oracle",)),
    Attack("import_solution", ("error",), ("does not allow", "solutions")),
    Attack("leak_solution", ("error",), ("does not allow opening",)),
    Attack("spawn_survivor", ("error",), ("does not allow starting processes",)),
    Attack("ctypes_escape", ("error",), ("ctypes",)),
    Attack("gc_socket", ("error",), ("walking every object",)),
    Attack("stack_walk", ("error",), ("inspecting the call stack",)),
    Attack("patch_recorder", ("failed",), ("calls torch.softmax",)),
    Attack("custom_op", ("failed",), ("a custom op, whose body the grader cannot see",)),  # the patch changes a class the worker no longer uses
    Attack("network", ("error",), ("network",)),
    Attack("bogus_header", ("error",), ("broke the protocol", "bytes")),
    Attack("half_frame", ("timeout",), ("no answer within 3 s",), settings={"call_timeout_s": 3.0}),
    Attack("huge_view", ("failed",)),
    Attack("memory_hog", ("error",), ("allocate",), settings={"memory_limit_gib": 3.0}),
    Attack("print_flood", ("error",), ("File too large",)),
    # Correct but slow: what finishes within the exercise's budget counts, the rest times out.
    Attack("slow_correct", ("passed", "timeout"), env={"HOSTILE_SLEEP_S": "2"},
           settings={"call_timeout_s": 4.0, "exercise_budget_s": 10.0}),
]


def tree_digest(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` (caches left out)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and "__pycache__" not in p.parts}


def processes_with(marker: str) -> list[int]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if marker.encode() in cmdline.read_bytes():
                found.append(int(cmdline.parent.name))
        except OSError:
            continue
    return found


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (through /proc's children lists)."""
    found, todo = set(), [pid]
    while todo:
        current = todo.pop()
        try:
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def submission_with(directory: Path, module: str) -> Path:
    return make_submission(directory, {"level1/softmax.py": HOSTILE / f"{module}.py",
                                       "level1/merge.py": ROOT / "solutions" / "level1" / "merge.py"})


def assert_contained(report, attack: Attack) -> None:
    by_id = {e.id: e for e in report.exercises}
    softmax = by_id["level1.softmax"]
    if attack.module == "slow_correct":
        assert softmax.checks[-1].status == "timeout" and "time budget" in softmax.checks[-1].message
    else:
        assert softmax.score == 0
    for check in softmax.checks:
        assert check.status in attack.statuses, check.message
        for phrase in attack.phrases:
            assert phrase in check.message, f"{phrase!r} not in {check.name}'s message:\n{check.message}"
        assert FORGED not in check.message
    merge = by_id["level1.merge"]
    assert merge.score == merge.max_score > 0, [c.message for c in merge.checks]


@pytest.mark.parametrize("attack", ATTACKS, ids=str)
def test_attack_scores_zero_and_changes_nothing(attack: Attack, course_copy: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture):
    for key, value in attack.env.items():
        monkeypatch.setenv(key, value)
    submission = submission_with(tmp_path / "submission", attack.module)
    before = tree_digest(course_copy), GRADER_FILE.read_bytes(), tree_digest(submission)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()

    report = grader.grade("level1", submission=submission, examples=EXAMPLES,
                          manifest=with_course_settings(**attack.settings) if attack.settings else None)

    assert time.monotonic() - started < 120
    assert_contained(report, attack)
    assert (tree_digest(course_copy), GRADER_FILE.read_bytes(), tree_digest(submission)) == before
    assert descendants(os.getpid()) == set()  # every child, and whatever it started, is gone
    assert processes_with("hostile-survivor") == []
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before < 300_000  # KiB: no flood kept
    printed = capfd.readouterr()
    assert FORGED not in printed.out and FORGED not in printed.err


def test_leaked_solution_text_never_reaches_the_report(course_copy: Path, tmp_path: Path):
    report = grader.grade("level1.softmax", submission=submission_with(tmp_path, "leak_solution"),
                          examples=EXAMPLES)
    solution = (course_copy / "solutions" / "level1" / "softmax.py").read_text()
    secret_line = next(line for line in solution.splitlines() if "def _" in line or "LOG2E" in line or "=" in line)
    text = json.dumps(report.to_dict())
    assert solution.splitlines()[0] not in text and secret_line.strip() not in text


@pytest.mark.parametrize("fmt", ["json", "gradescope"])
def test_a_forged_output_file_is_overwritten_by_one_honest_document(fmt: str, course_copy: Path, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch):
    """The attack writes a forged report to the --output path; the guard refuses the
    write, and the file holds the grader's single valid document."""
    output = tmp_path / "results.json"
    monkeypatch.setenv("HOSTILE_TARGET", str(output))
    submission = submission_with(tmp_path / "submission", "write_output_file")
    result = CliRunner().invoke(main, ["grade", "level1", "--submission", str(submission), "--format", fmt,
                                       "--output", str(output), "--examples", str(EXAMPLES)])
    assert result.exit_code == 1, result.output
    data = json.loads(output.read_text())  # one document, nothing around it
    assert FORGED not in output.read_text()
    if fmt == "json":
        softmax = next(e for e in data["exercises"] if e["id"] == "level1.softmax")
        assert softmax["score"] == 0 and softmax["status"] == "error"
        assert "does not allow writing to" in softmax["checks"][0]["message"]
    else:
        softmax_tests = [t for t in data["tests"] if t["name"].startswith("level1.softmax")]
        assert softmax_tests and all(t["score"] == 0 for t in softmax_tests)


def test_the_secret_seed_is_invisible_to_student_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("COURSE_SECRET_SEED", "tell-no-one-81")
    report = grader.grade("level1.softmax", submission=submission_with(tmp_path, "read_secret"), examples=EXAMPLES)
    text = json.dumps(report.to_dict())
    assert "tell-no-one-81" not in text
    assert "secret=" in text  # the attack ran, and saw nothing


def _grade_in_background(submission: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "grader", "grade", "level1.softmax", "--submission",
                             str(submission), "--examples", "2", *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def _wait_for_worker(grader_process: subprocess.Popen) -> set[int]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        below = descendants(grader_process.pid)
        if any(b"grader.child" in Path(f"/proc/{pid}/cmdline").read_bytes() for pid in below if alive(pid)):
            return below
        time.sleep(0.2)
    raise AssertionError("the worker never started")


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_the_worker_does_not_outlive_the_grader(how: signal.Signals, tmp_path: Path):
    """The hanging submission keeps its worker busy; when the grader is killed (even by
    SIGKILL, which no handler sees) the worker and everything below it die too."""
    submission = make_submission(tmp_path, {"level1/softmax.py": HOSTILE / "hang.py"})
    grader_process = _grade_in_background(submission)
    workers = _wait_for_worker(grader_process)
    os.kill(grader_process.pid, how)
    grader_process.wait(timeout=30)
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(pid) for pid in workers)


@pytest.mark.skipif(not sandbox_available(), reason="bubblewrap (bwrap) is not installed")
def test_under_the_sandbox_the_course_is_not_there(course_copy: Path, tmp_path: Path):
    """`course grade --sandbox`: the child sees an empty course root (no solutions/, no
    grader), and the reference solutions still get full marks."""
    report = grader.grade("level1.softmax", submission=submission_with(tmp_path, "look_around"),
                          examples=EXAMPLES, sandbox=True)
    message = report.exercises[0].checks[0].message
    assert "seen: {'solutions': 'FileNotFoundError', 'grader': 'FileNotFoundError', '.': []}" in message, message
    solutions = grader.grade("level1", solutions=True, examples=EXAMPLES, sandbox=True)
    assert solutions.score == solutions.max_score > 0


@pytest.mark.parametrize("module", ["numpy_full_matrix", "thread_full_matrix", "dispatch_escape"])
def test_a_full_score_matrix_out_of_the_recorders_sight_is_caught_by_the_memory_bound(module: str, tmp_path: Path):
    """Right values, the whole Nq x Nk matrix built where the op recorder cannot see it:
    the peak RSS the parent reads from /proc fails no_full_matrix all the same. (On the
    CPU: the memory case always runs there, and these attacks are written for CPU
    tensors.)"""
    submission = make_submission(tmp_path, {"level2/flash_v2.py": HOSTILE / f"{module}.py"})
    (result,) = grader.grade("level2.flash_v2", submission=submission, examples=EXAMPLES, device="cpu").exercises
    checks = {c.name: c for c in result.checks}
    assert checks["oracle"].status == "passed"  # the values are right: those points are earned
    assert checks["no_full_matrix"].status == "failed", checks["no_full_matrix"].message
    assert "measured by the operating system" in checks["no_full_matrix"].message
    assert "grew the process's memory" in checks["no_full_matrix"].message


def test_the_childs_import_path_holds_nothing_of_the_course(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Only a copy of grader/child and grader/contract.py is importable in the child:
    solutions/ and the grader's parent side are not even on its path, and neither is
    its own writable working directory (a module dropped there cannot shadow one)."""
    monkeypatch.setenv("HOSTILE_ROOT", str(ROOT))
    report = grader.grade("level1.softmax", submission=submission_with(tmp_path, "import_path"), examples=EXAMPLES)
    message = report.exercises[0].checks[0].message
    assert "in the course: []; working directory on the path: False" in message, message


@pytest.mark.skipif(not _unshare_works(), reason="no user namespaces here (unshare)")
def test_the_course_is_mounted_read_only_in_the_childs_namespace(course_copy: Path):
    """Below the guard, the kernel: the child's own mount namespace holds the course
    root read-only, which native code cannot get round either (read from the parent,
    in /proc/PID/mountinfo)."""
    solution = course_copy / "solutions" / "level1" / "softmax.py"
    with StudentProcess(solution, "reference", env={}, root=course_copy, call_timeout=60,
                        import_timeout=120) as student:
        assert student.call("safe_softmax", (torch.ones(2, 3),)).ok
        mounts = Path(f"/proc/{student._worker_pid}/mountinfo").read_text().splitlines()
    entry = next(line.split() for line in mounts if line.split()[4] == str(course_copy.resolve()))
    assert "ro" in entry[5].split(","), entry
