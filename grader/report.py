"""Render a GradeReport: a rich table, the spec's JSON, or Gradescope's results.json.

All terminal output goes through `console` (stdout) and `err_console` (stderr:
progress and errors), so `--format json` can keep stdout to one JSON object.
"""

from __future__ import annotations

import io
import json

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress as RichProgress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from grader.manifest import CheckSpec, ExerciseSpec
from grader.results import CheckResult, GradeReport
from grader.runner import Progress

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

STATUS_STYLE = {
    "passed": "green",
    "not verified here": "yellow",
    "not implemented": "dim",
    "failed": "red",
    "timeout": "red",
    "error": "bold red",
}


def table(report: GradeReport) -> Table:
    t = Table(title=f"course grade {report.target}  (device {report.device}, seed {report.seed})",
              show_lines=True, title_justify="left")
    t.add_column("exercise", no_wrap=True)
    t.add_column("check", no_wrap=True)
    t.add_column("status", no_wrap=True)
    t.add_column("points", justify="right", no_wrap=True)
    t.add_column("details")
    for ex in report.exercises:
        for i, c in enumerate(ex.checks):
            t.add_row(ex.id if i == 0 else "", c.name, Text(c.status, style=STATUS_STYLE[c.status]),
                      f"{c.score}/{c.max_score}", Text(c.message))
    t.add_section()
    bonus = f" (incl. {report.bonus_score} bonus)" if report.bonus_score else ""
    t.add_row("total", "", "", f"{report.score}/{report.max_score}", f"bonus exercises add to the score, not to the maximum{bonus}" if bonus else "")
    return t


def to_json(report: GradeReport) -> str:
    return json.dumps(report.to_dict(), indent=2)


def to_gradescope(report: GradeReport) -> str:
    """Gradescope's results.json: one test per check."""
    tests = [
        {
            "name": f"{ex.id}: {c.name}",
            "score": c.score,
            "max_score": c.max_score,
            "status": "passed" if c.status == "passed" else "failed",
            "output": f"[{c.status}] {c.message}",
            "visibility": "visible",
        }
        for ex in report.exercises
        for c in ex.checks
    ]
    return json.dumps({"score": report.score, "max_score": report.max_score, "tests": tests}, indent=2)


def render_text(report: GradeReport, width: int = 120) -> str:
    """The table as plain text (for --output FILE)."""
    plain = Console(width=width, record=True, file=io.StringIO(), color_system=None)
    plain.print(table(report))
    return plain.export_text()


class ProgressDisplay(Progress):
    """A rich progress bar on stderr: one task per check, ticking per example."""

    def __init__(self):
        self._bar = RichProgress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=err_console, transient=True)
        self._task = None

    def __enter__(self):
        self._bar.__enter__()
        return self

    def __exit__(self, *exc):
        self._bar.__exit__(*exc)

    def start(self, exercise: ExerciseSpec, check: CheckSpec, total: int) -> None:
        if self._task is not None:
            self._bar.remove_task(self._task)
        self._task = self._bar.add_task(f"{exercise.id}: {check.id}", total=total)

    def tick(self) -> None:
        self._bar.advance(self._task)

    def finish(self, result: CheckResult) -> None:
        style = STATUS_STYLE[result.status]
        self._bar.console.print(f"  {self._bar.tasks[-1].description} [{style}]{result.status}[/]")
