"""Render a GradeReport: the terminal report, the spec's JSON, or Gradescope's results.json.

The terminal report reads at 80 columns and through a pipe: one line per exercise
and per check (name, status, points), and under each check that did not pass its
message, indented, at the full width of the terminal: summary, smallest failing
example, error against allowed (once), hint, details. It ends with the score line,
which states bonus points apart and the points this machine could not verify.

All terminal output goes through `console` (stdout) and `err_console` (stderr:
progress and errors), so `--format json` can keep stdout to one JSON object.
"""

from __future__ import annotations

import io
import json

from rich.console import Console, ConsoleOptions, Group, RenderableType
from rich.progress import BarColumn, MofNCompleteColumn, Progress as RichProgress, TextColumn, TimeElapsedColumn
from rich.segment import Segment
from rich.table import Table
from rich.text import Text

from grader.manifest import CheckSpec, ExerciseSpec
from grader.results import PASSED, CheckResult, GradeReport
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
STATUS_WIDTH = max(map(len, STATUS_STYLE))
POINTS_WIDTH = 7  # "15/15", or "bonus" on a bonus exercise's row
DETAILS_INDENT = 6


def _row(label: Text, status: str, points: str) -> Table:
    """One line: a label that takes the width left, then status and points."""
    row = Table.grid(expand=True, padding=(0, 1))
    row.add_column(ratio=1, overflow="fold")
    row.add_column(width=STATUS_WIDTH, no_wrap=True)
    row.add_column(width=POINTS_WIDTH, justify="right", no_wrap=True)
    row.add_row(label, Text(status, style=STATUS_STYLE[status]), points)
    return row


class _Indented:
    """Text wrapped to the console's width less an indent, each line indented and
    nothing padded on the right (rich's Padding pads every line to the full width,
    which leaves trailing spaces in piped output)."""

    def __init__(self, text: Text, indent: int):
        self.text, self.indent = text, indent

    def __rich_console__(self, console: Console, options: ConsoleOptions):
        for line in self.text.wrap(console, max(options.max_width - self.indent, 20)):
            line.rstrip()
            yield Segment(" " * self.indent)
            yield from line.render(console)
            yield Segment.line()


def _details(check: CheckResult, check_id: str, repro: bool) -> _Indented:
    text = Text(check.message)
    if repro and check.repro:
        text.append(f"\nrebuild the failing call: course repro {check_id}", style="bold")
    return _Indented(text, DETAILS_INDENT)


def score_lines(report: GradeReport) -> list[str]:
    """'score 54/60, plus bonus 3/5 (seed 20240601): some checks did not pass', then
    one line per reason some points were not verified here."""
    regular = report.score - report.bonus_score
    bonus = f", plus bonus {report.bonus_score}/{report.bonus_max_score}" if report.bonus_max_score else ""
    verdict = "everything verifiable passed" if report.all_verified_passed else "some checks did not pass"
    lines = [f"score {regular}/{report.max_score}{bonus} (seed {report.seed_label}): {verdict}"]
    return lines + report.not_verified_notes()


def render(report: GradeReport, *, repro: bool = False) -> RenderableType:
    """The terminal report. ``repro``: the failures' scripts were saved, so point to
    `course repro` under each failure that has one."""
    parts: list[RenderableType] = [
        Text(f"course grade {report.target}  (device {report.device}, seed {report.seed_label})", style="bold"),
        Text(""),
    ]
    for ex in report.exercises:
        label = Text(ex.id + (" (bonus)" if ex.bonus else ""), style="bold")
        parts.append(_row(label, ex.status, f"{ex.score}/{ex.max_score}"))
        for c in ex.checks:
            parts.append(_row(Text("  " + c.name), c.status, f"{c.score}/{c.max_score}"))
            if c.status != PASSED:
                parts.append(_details(c, f"{ex.id}.{c.name}", repro))
    parts.append(Text(""))
    parts += [Text(line, style="bold" if i == 0 else "") for i, line in enumerate(score_lines(report))]
    return Group(*parts)


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
    return json.dumps({"score": report.score, "max_score": report.max_score, "output": "\n".join(score_lines(report)),
                       "tests": tests}, indent=2)


def render_text(report: GradeReport, width: int = 100) -> str:
    """The terminal report as plain text (for --output FILE)."""
    plain = Console(width=width, record=True, file=io.StringIO(), color_system=None)
    plain.print(render(report))
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
