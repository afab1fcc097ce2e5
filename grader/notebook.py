"""What a course notebook's kernel imports: the `%%exercise` cells and the scores shown.

Every notebook that `course nbgrader build` writes starts with ``%load_ext
grader.notebook``, which registers one cell magic:

    %%exercise level1/softmax.py
    <the file's text>

A ``%%exercise FILE`` cell is an exercise's file, laid out as under exercises/: the
magic saves the text as FILE in this kernel's submission directory and, for a Python
file, runs it here so that later cells can call its functions. A ``.cu`` file (Level
3) is only saved: the grader compiles it. What the cell holds, after its first line,
is exactly what is graded; experiments in other cells never are.

`autograde(exercise)` is what an autograder cell calls: it grades the saved file in a
fresh ``python -m grader grade`` process (the student's code in the grader's isolated
child, as everywhere), prints one line per check and returns the points as a plain
float, the value nbgrader reads, with nothing on stderr (nbgrader gives zero to a cell
that writes there). The kernel is student code too: anything it computes can be
forged by an earlier cell. So under ``nbgrader autograde`` (NBGRADER_EXECUTION is
"autograde") the notebook is not run at all: grader/nbgrader_autograde.py grades the
``%%exercise`` cells' text outside any kernel. docs/INSTRUCTORS.md says why.

This module imports only the standard library (and the manifest, to name files).
"""

from __future__ import annotations

import atexit
import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path, PurePosixPath

MAGIC = "exercise"  # the cell magic: %%exercise FILE
AUTOGRADE_ENV = "NBGRADER_EXECUTION"  # nbgrader sets it to "validate" or "autograde" while it runs a notebook
SCORED_OUTSIDE = (
    "under `nbgrader autograde` this cell is scored outside the notebook's kernel by "
    "grader.nbgrader_autograde.ScoreOutsideKernel, which the course's nbgrader_config.py installs; "
    "without it the cell scores zero (docs/INSTRUCTORS.md)")

_directory: Path | None = None  # this kernel's submission directory, made on first use


def submission_dir() -> Path:
    """The directory the ``%%exercise`` cells of this kernel write to (laid out like
    exercises/); removed when the kernel exits."""
    global _directory
    if _directory is None:
        _directory = Path(tempfile.mkdtemp(prefix="course-notebook-"))
        atexit.register(shutil.rmtree, _directory, True)
    return _directory / "submission"


def split_exercise_cell(source: str) -> tuple[str, str] | None:
    """``(file, text)`` of a ``%%exercise FILE`` cell's source, None for another cell.
    The text is what follows the first line, as IPython hands it to the magic."""
    first, _, text = source.partition("\n")
    words = first.split()
    if len(words) != 2 or words[0] != f"%%{MAGIC}":
        return None
    return words[1], text


def exercise_path(file: str) -> PurePosixPath:
    """``file`` as a path inside a submission directory; ValueError where it could
    leave it or is no exercise's kind of file."""
    path = PurePosixPath(file)
    if path.is_absolute() or ".." in path.parts or path.suffix not in (".py", ".cu") or len(path.parts) != 2:
        raise ValueError(f"%%{MAGIC} takes an exercise's file as under exercises/, such as "
                         f"level1/softmax.py; got {file!r}")
    return path


def save_exercise(line: str, cell: str) -> None:
    """The ``%%exercise FILE`` cell magic: save the cell as FILE, then run it here
    when it is Python."""
    target = submission_dir() / exercise_path(line.strip())
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(cell)
    if target.suffix == ".cu":
        print(f"saved {line.strip()} ({len(cell.splitlines())} lines): the autograder cell below compiles and grades it")
        return
    from IPython import get_ipython

    # Run as IPython runs a cell, but compiled under the saved file's name: a traceback
    # shows the cell's lines, and Triton's @jit finds its kernels' source.
    exec(compile(cell, str(target), "exec"), get_ipython().user_ns)  # noqa: S102


def load_ipython_extension(ipython) -> None:
    """``%load_ext grader.notebook``."""
    ipython.register_magic_function(save_exercise, magic_kind="cell", magic_name=MAGIC)


def autograde(exercise: str, seed: int | None = None, examples: int | None = None) -> float:
    """Grade ``exercise`` ('level1.softmax') from the file its ``%%exercise`` cell
    saved, in a fresh grader process; print each check, return the points earned."""
    if os.environ.get(AUTOGRADE_ENV) == "autograde":
        raise RuntimeError(SCORED_OUTSIDE)
    from grader.manifest import load_manifest

    file = load_manifest().exercise(exercise).file
    if not (submission_dir() / file).is_file():
        raise RuntimeError(f"no %%{MAGIC} {file} cell has run in this kernel yet: run {exercise}'s cell above first")
    options = [] if seed is None else ["--seed", str(seed)]
    options += [] if examples is None else ["--examples", str(examples)]
    (result,) = run_grader(exercise, *options)["exercises"]
    print(check_lines(result), end="")
    return float(result["score"])


def check_lines(result: dict) -> str:
    """An exercise's result (its JSON form) as text: the points, one line per check,
    and the message of each check that did not pass."""
    lines = [f"{result['id']}: {result['score']} / {result['max_score']} points"]
    for check in result["checks"]:
        lines.append(f"  {check['name']:<20} {check['status']:<17} {check['score']}/{check['max_score']}")
        if check["status"] != "passed":
            lines += [f"      {line}" for line in check["message"].splitlines()]
    return "\n".join(lines) + "\n"


def course_grade(target: str) -> None:
    """`course grade TARGET` on what this kernel's ``%%exercise`` cells saved: the
    report you get in a terminal. Skipped while nbgrader runs the notebook (its
    autograder cells grade each exercise already)."""
    if os.environ.get(AUTOGRADE_ENV):
        print(f"(skipped while nbgrader runs the notebook: the autograder cells grade {target})")
        return
    done = _grader_process(target)
    print(done.stdout, end="")
    if done.returncode not in (0, 1):  # 0: all verified passed, 1: something failed; else the grader could not run
        print("\n".join(done.stderr.strip().splitlines()[-15:]))


def run_grader(target: str, *options: str) -> dict:
    """``python -m grader grade TARGET --submission DIR --format json`` in a fresh
    process: the JSON report as a dict. Its stderr (progress, warnings) is kept
    from the cell; a grader that fails to report raises RuntimeError with its tail."""
    done = _grader_process(target, "--format", "json", *options)
    try:
        return json.loads(done.stdout)
    except json.JSONDecodeError:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"the grader exited {done.returncode} without a report:\n{tail}") from None


def _grader_process(target: str, *options: str) -> subprocess.CompletedProcess:
    directory = submission_dir()
    directory.mkdir(parents=True, exist_ok=True)
    # Warnings from this kernel (a filter a cell set, a deprecation in subprocess) stay
    # off the cell's stderr as well: nbgrader scores a cell that writes there zero.
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        # The working directory is the kernel's own temporary one: a folder named
        # grader/ beside the notebook must not stand in for the grader.
        return subprocess.run([sys.executable, "-m", "grader", "grade", target, "--submission", str(directory),
                               *options], cwd=directory.parent, capture_output=True, text=True, check=False)


class Picture:
    """An SVG drawing that Jupyter displays; its text form is a one-line summary."""

    def __init__(self, svg: str, summary: str):
        self.svg, self.summary = svg, summary

    def _repr_svg_(self) -> str:
        return self.svg

    def __repr__(self) -> str:
        return self.summary


TILE_COLOURS = {"computed": "#4c78a8", "masked": "#f58518", "skipped": "#e0e0e0"}


def causal_tiles(n_q: int, n_k: int, block_m: int = 64, block_n: int = 64) -> Picture:
    """The ``[block_m, block_n]`` tiles of a causal ``n_q x n_k`` score matrix (the
    course's bottom-right alignment: query i sees key j iff j <= i + n_k - n_q): tiles
    every query of which sees every key are computed without a mask, tiles on the
    diagonal need the mask, tiles no query sees are skipped (flash_v2's causal_skip)."""
    offset = n_k - n_q
    rows, cols = -(-n_q // block_m), -(-n_k // block_n)
    cell = max(6, min(28, 480 // max(rows, cols)))
    counts = dict.fromkeys(TILE_COLOURS, 0)
    rects = []
    for i in range(rows):
        first_q, last_q = i * block_m, min(n_q, (i + 1) * block_m) - 1
        for j in range(cols):
            first_k, last_k = j * block_n, min(n_k, (j + 1) * block_n) - 1
            kind = ("skipped" if first_k > last_q + offset else
                    "computed" if last_k <= first_q + offset else "masked")
            counts[kind] += 1
            rects.append(f'<rect x="{j * cell}" y="{i * cell}" width="{cell - 1}" height="{cell - 1}" '
                         f'fill="{TILE_COLOURS[kind]}"><title>Q block {i}, K/V block {j}: {kind}</title></rect>')
    legend = "".join(f'<text x="0" y="{rows * cell + 16 * (k + 1)}" font-size="12" fill="{colour}">'
                     f'&#9632; {kind}: {counts[kind]}</text>' for k, (kind, colour) in enumerate(TILE_COLOURS.items()))
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{max(cols * cell, 200)}" '
           f'height="{rows * cell + 16 * len(TILE_COLOURS) + 6}">{"".join(rects)}{legend}</svg>')
    summary = f"{rows} x {cols} tiles: " + ", ".join(f"{counts[kind]} {kind}" for kind in TILE_COLOURS)
    return Picture(svg, summary)
