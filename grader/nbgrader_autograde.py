"""`nbgrader autograde` for the course: scores from the grader, outside any notebook kernel.

nbgrader's own autograde runs the submitted notebook in a Jupyter kernel with the
instructor's rights and reads each test cell's output. A kernel is student code: an
earlier cell can patch whatever a test cell calls, print the float nbgrader reads, or
edit the grader's files before the next student is graded. So the course's
nbgrader_config.py replaces nbgrader's Execute step with `ScoreOutsideKernel`: it
writes the notebook's ``%%exercise`` cells (their submitted text, grader/notebook.py)
as a submission directory, grades each autograder cell's exercise with the grader's
Python API (`grader.runner.grade`: student code runs in the grader's isolated child,
as for `course grade`), and sets that cell's output to the check lines and the points
as a plain float. The settings come from the cell's source as nbgrader restored it
from the gradebook, hidden tests included. No student code runs in nbgrader's kernel.

A graded code cell that is not one of the course's autograder cells gets an error
output, so zero points, rather than the full credit nbgrader gives a cell with no
output: nothing is scored that nothing checked.
"""

from __future__ import annotations

import ast
import tempfile
from pathlib import Path

from nbconvert.preprocessors import Preprocessor
from nbformat import NotebookNode
from nbformat.v4 import new_output
from traitlets import Bool

from grader.manifest import load_manifest
from grader.nbgrader_export import extract_submission
from grader.notebook import check_lines

SETTINGS = {"exercise", "seed", "examples"}  # the keys of an autograder cell's `grading` dict


class ScoreOutsideKernel(Preprocessor):
    """Score the course's autograder cells with the grader; see the module docstring."""

    enabled = Bool(True)  # nbconvert's preprocessors are off unless enabled

    def preprocess(self, nb: NotebookNode, resources: dict):
        manifest = load_manifest()
        with tempfile.TemporaryDirectory(prefix="course-autograde-") as tmp:
            submission = Path(tmp) / "submission"
            submission.mkdir()
            extract_submission(nb, manifest, submission)
            for cell in nb.cells:
                meta = cell.metadata.get("nbgrader", {})
                if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
                    cell.outputs = self._score(cell.source, manifest, submission, meta.get("grade_id", "?"))
        return nb, resources

    def _score(self, source: str, manifest, submission: Path, grade_id: str) -> list:
        try:
            grading = grading_settings(source)
        except ValueError as err:
            self.log.error("%s: not scored: %s", grade_id, err)
            return [_error("NotScored", f"{err}; this course's autograde runs no notebook code in a kernel, "
                                        "so only its own autograder cells are scored (docs/INSTRUCTORS.md)")]
        from grader.runner import grade  # torch: imported once there is something to grade

        try:
            report = grade(grading["exercise"], submission=submission, seed=grading.get("seed"),
                           examples=grading.get("examples"), manifest=manifest)
        except (KeyError, ValueError) as err:
            self.log.error("%s: %s", grade_id, err)
            return [_error("GradingError", str(err))]
        (result,) = report.exercises
        # The hidden seed goes to the instructor's log, never into the feedback students get.
        self.log.info("%s: %s / %s points (seed %s, %s examples per check)", result.id, result.score,
                      result.max_score, grading.get("seed", manifest.course.seed),
                      grading.get("examples", "the course's"))
        return [new_output("stream", name="stdout", text=check_lines(result.to_dict())),
                new_output("execute_result", data={"text/plain": repr(float(result.score))}, execution_count=None)]


def grading_settings(source: str) -> dict:
    """The last top-level ``grading = {...}`` of an autograder cell, a literal dict
    with an ``exercise`` and optionally ``seed`` and ``examples``; ValueError otherwise."""
    found = None
    try:
        tree = ast.parse(source)
    except SyntaxError:
        tree = ast.Module(body=[], type_ignores=[])
    for node in tree.body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["grading"]:
            found = ast.literal_eval(node.value)
    if not isinstance(found, dict) or "exercise" not in found or set(found) - SETTINGS:
        raise ValueError("not one of the course's autograder cells (no `grading = {'exercise': ...}` in it)")
    return found


def _error(name: str, message: str) -> NotebookNode:
    return new_output("error", ename=name, evalue=message, traceback=[f"{name}: {message}"])


def autograde_preprocessors() -> list:
    """nbgrader's autograde steps with its Execute step replaced by ScoreOutsideKernel."""
    from nbgrader.converters import Autograde
    from nbgrader.preprocessors import Execute

    steps = list(Autograde.class_traits()["autograde_preprocessors"].default())
    if Execute not in steps:
        raise RuntimeError("this nbgrader's autograde has no Execute step to replace: "
                           "grader/nbgrader_autograde.py needs updating for it")
    return [ScoreOutsideKernel if step is Execute else step for step in steps]
