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
from grader.isolation import StudentProcess, sandbox_available

MEMCHECK_CLEAN = """========= COMPUTE-SANITIZER
sanitize: 4 cases ran
========= ERROR SUMMARY: 0 errors
"""
# Excerpts of what compute-sanitizer printed on the H100 for two wrong kernels
# (tests/test_wrong_submissions_level3.py), host frames cut.
MEMCHECK_READ = """========= COMPUTE-SANITIZER
========= Invalid __global__ read of size 16 bytes
=========     at <unnamed>::cp_async_16(unsigned int, const void *, bool)+0x1640 in flash_fwd.cu:73
=========     by thread (40,0,0) in block (0,0,0)
=========     Access to 0x7f2ef8811080 is out of bounds
=========     and is 1 bytes after the nearest allocation at 0x7f2ef880ce00 of size 17,024 bytes
=========         Device Frame: void <unnamed>::load_tile<(int)64, (int)64, __half>(T3 *, const T3 *, long, int)+0x15e0 in flash_fwd.cu:159
=========         Device Frame: void <unnamed>::flash_fwd_kernel<__half, (int)64, (int)128, (int)64, (bool)1>(<unnamed>::Params)+0x1500 in flash_fwd.cu:231
=========     Saved host backtrace up to driver entry point at kernel launch time
=========         Host Frame: cudaLaunchKernel [0x97317] in course_native.so
=========         Host Frame: main in sanitize.py:46
========= 
========= Error: process didn't terminate successfully
========= Target application returned an error
========= ERROR SUMMARY: 114 errors
"""
RACECHECK_ERRORS = """========= COMPUTE-SANITIZER
========= Error: Race reported between Write access at <unnamed>::cp_async_16(unsigned int, const void *, bool)+0x1bf0 in flash_fwd.cu:71
=========     and Read access at <unnamed>::ldmatrix_x4(unsigned int (&)[4], unsigned int)+0x1da0 in flash_fwd.cu:84 [2048 hazards]
=========     and Read access at <unnamed>::ldmatrix_x4(unsigned int (&)[4], unsigned int)+0x1e20 in flash_fwd.cu:84 [2048 hazards]
========= 
========= RACECHECK SUMMARY: 10 hazards displayed (32 errors, 0 warnings)
"""
RACECHECK_WARNINGS = """========= Warning: Race reported between Read access at <unnamed>::ldmatrix_x4_trans(unsigned int (&)[4], unsigned int)+0x3e80 in flash_fwd.cu:89
=========     and Write access at <unnamed>::cp_async_16(unsigned int, const void *, bool)+0x1bf0 in flash_fwd.cu:71 [64 hazards]
========= RACECHECK SUMMARY: 24 hazards displayed (0 errors, 24 warnings)
"""
RACECHECK_CLEAN = "========= RACECHECK SUMMARY: 0 hazards displayed (0 errors, 0 warnings)\n"


def test_a_clean_report_passes():
    assert read_sanitizer("memcheck", 0, MEMCHECK_CLEAN).clean
    assert read_sanitizer("racecheck", 0, RACECHECK_CLEAN).clean


def test_an_out_of_bounds_read_names_the_tail_predication():
    verdict = read_sanitizer("memcheck", SANITIZER_ERRORS_EXIT, MEMCHECK_READ)
    assert not verdict.clean
    assert verdict.summary == ("compute-sanitizer memcheck: an out-of-bounds global read of 16 bytes in cp_async_16 "
                               "(flash_fwd.cu:73), called from load_tile (flash_fwd.cu:159) and flash_fwd_kernel "
                               "(flash_fwd.cu:231), 1 bytes past the end of a 17,024-byte tensor (114 errors in all)")
    assert "predicate" in verdict.hint and "Nk" in verdict.hint


def test_racecheck_errors_name_the_missing_barrier():
    verdict = read_sanitizer("racecheck", SANITIZER_ERRORS_EXIT, RACECHECK_ERRORS)
    assert not verdict.clean
    assert verdict.summary == ("compute-sanitizer racecheck reports 10 shared-memory hazards: a Write in "
                               "cp_async_16 (flash_fwd.cu:71) races with a Read in ldmatrix_x4 (flash_fwd.cu:84)")
    assert "__syncthreads()" in verdict.hint


def test_racecheck_warnings_are_hazards_too():
    """A refill racing with other warps' reads may be reported as a warning, which
    does not set the exit status: it fails all the same."""
    verdict = read_sanitizer("racecheck", 0, RACECHECK_WARNINGS)
    assert not verdict.clean and "24 shared-memory hazards: a Read in ldmatrix_x4_trans" in verdict.summary


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


@pytest.fixture(params=[False, True], ids=["launcher", "sandbox"])
def student(request, course_copy: Path):
    """The child's isolation as `course grade` gives it, and under --sandbox (bubblewrap)."""
    if request.param and not sandbox_available():
        pytest.skip("bubblewrap is not installed here")
    solution = course_copy / "solutions" / "level1" / "softmax.py"
    with StudentProcess(solution, "student", env={"X": "from the grader"}, root=course_copy, call_timeout=60,
                        import_timeout=120, sandbox=request.param) as process:
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


def test_only_the_first_errors_frames_are_named():
    second = MEMCHECK_READ.replace("ERROR SUMMARY: 114 errors", "").replace("load_tile", "other_caller")
    verdict = read_sanitizer("memcheck", SANITIZER_ERRORS_EXIT, MEMCHECK_READ.split("=========     Saved")[0]
                             + "========= \n" + second)
    assert "load_tile" in verdict.summary and "other_caller" not in verdict.summary, verdict.summary
