"""Level 3's `sanitizer` check: compute-sanitizer watches the student's kernel from a
process of its own (grader/checks/level3.py, grader/child/sanitize.py).

On the CPU: how a sanitizer's report is read (exit status first, then its summary,
never what the program under it printed), and how StudentProcess.run_tool starts a
watcher around the child program, inside the child's isolation. On a GPU
(tests/test_wrong_submissions_level3.py) the check rejects the racy and the
unpredicated kernels and passes the reference.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from grader.checks.level3 import SANITIZER_ERRORS_EXIT, read_sanitizer
from grader.isolation import StudentProcess

MEMCHECK_CLEAN = """========= COMPUTE-SANITIZER
sanitize: 4 cases ran
========= ERROR SUMMARY: 0 errors
"""
MEMCHECK_READ = """========= COMPUTE-SANITIZER
========= Invalid __global__ read of size 16 bytes
=========     at void flash_fwd_kernel<__half, 64>(course::FlashParams)+0x1a40 in /tmp/course-child-x/build/flash_fwd.cu:291
=========     by thread (3,0,0) in block (0,0,0)
=========     Address 0x7f3a0001f000 is out of bounds
========= ERROR SUMMARY: 12 errors
"""
RACECHECK_ERRORS = """========= COMPUTE-SANITIZER
========= Error: Race reported between Write access at void flash_fwd_kernel<__half, 64>(course::FlashParams)+0x9b0 in /tmp/b/flash_fwd.cu:301
=========     and Read access at void flash_fwd_kernel<__half, 64>(course::FlashParams)+0x1f20 in /tmp/b/flash_fwd.cu:338 [1024 hazards]
========= RACECHECK SUMMARY: 120 hazards displayed (120 errors, 0 warnings)
"""
RACECHECK_WARNINGS = """========= Warning: Race reported between Read access at flash_fwd.cu:410
=========     and Write access at flash_fwd.cu:300 [64 hazards]
========= RACECHECK SUMMARY: 24 hazards displayed (0 errors, 24 warnings)
"""
RACECHECK_CLEAN = "========= RACECHECK SUMMARY: 0 hazards displayed (0 errors, 0 warnings)\n"


def test_a_clean_report_passes():
    assert read_sanitizer("memcheck", 0, MEMCHECK_CLEAN).clean
    assert read_sanitizer("racecheck", 0, RACECHECK_CLEAN).clean


def test_an_out_of_bounds_read_names_the_tail_predication():
    verdict = read_sanitizer("memcheck", SANITIZER_ERRORS_EXIT, MEMCHECK_READ)
    assert not verdict.clean
    assert "reads global memory out of bounds: 12 error(s) (at flash_fwd.cu:291)" in verdict.summary
    assert "predicate" in verdict.hint and "Nk" in verdict.hint


def test_racecheck_errors_name_the_missing_barrier():
    verdict = read_sanitizer("racecheck", SANITIZER_ERRORS_EXIT, RACECHECK_ERRORS)
    assert not verdict.clean
    assert "120 shared-memory hazards (at flash_fwd.cu:301, flash_fwd.cu:338)" in verdict.summary
    assert "__syncthreads()" in verdict.hint


def test_racecheck_warnings_are_hazards_too():
    """A refill racing with other warps' reads may be reported as a warning, which
    does not set the exit status: it fails all the same."""
    verdict = read_sanitizer("racecheck", 0, RACECHECK_WARNINGS)
    assert not verdict.clean and "24 shared-memory hazards" in verdict.summary


@pytest.mark.parametrize("code, output, says", [
    (SANITIZER_ERRORS_EXIT, "sanitize printed this\n" + MEMCHECK_CLEAN, "finds memory errors"),  # a forged summary
    (0, "sanitize: 4 cases ran\n", "no clean summary"),  # no summary at all
    (1, MEMCHECK_CLEAN, "exit status 1"),  # the program failed (a COURSE_CHECK, a crash)
    (None, "", "did not finish"),
])
def test_only_the_sanitizers_exit_status_and_summary_make_a_pass(code, output, says):
    verdict = read_sanitizer("memcheck", code, output)
    assert not verdict.clean and says in verdict.summary, verdict.summary


# A stand-in for compute-sanitizer: prints what it was given, runs the program when asked.
WATCHER = r"""
import os, subprocess, sys, time
command = sys.argv[2:]
print("command:", command[1:4], "submission exists:", os.path.exists(command[-1]), "X:", os.environ.get("X"))
if sys.argv[1] == "sleep":
    time.sleep(60)
sys.exit(subprocess.call(command) if sys.argv[1] == "run" else int(sys.argv[1]))
"""


@pytest.fixture
def student(course_copy: Path):
    solution = course_copy / "solutions" / "level1" / "softmax.py"
    with StudentProcess(solution, "student", env={"X": "from the grader"}, root=course_copy, call_timeout=60,
                        import_timeout=120) as process:
        yield process


def test_run_tool_runs_the_program_under_the_watcher(student: StudentProcess):
    code, output = student.run_tool([sys.executable, "-c", WATCHER, "7"], "grader.child.wire", timeout=60)
    assert code == 7
    assert "command: ['-P', '-m', 'grader.child.wire'] submission exists: True X: from the grader" in output, output
    # the watcher starts the program, which finds the child's package and nothing of the course
    code, output = student.run_tool([sys.executable, "-c", WATCHER, "run"], "grader.child.wire", timeout=60,
                                    env={"X": "for this run"})
    assert code == 0 and "X: for this run" in output, output


def test_run_tool_stops_a_watcher_that_overruns(student: StudentProcess):
    started = time.monotonic()
    code, output = student.run_tool([sys.executable, "-c", WATCHER, "sleep"], "grader.child.wire", timeout=3)
    assert code is None and time.monotonic() - started < 30
    assert "submission exists: True" in output
