"""`course list`: levels, exercises, points (GPU-only points apart), your last result."""

from __future__ import annotations

import click
from rich import box
from rich.table import Table
from rich.text import Text

from grader import history
from grader.manifest import ExerciseSpec, ManifestError, load_manifest
from grader.report import STATUS_STYLE, console
from grader.results import NOT_VERIFIED, not_verified_notes, worst

WIDE = 120  # columns from which exercise titles are shown


@click.command("list")
def list_exercises() -> None:
    """List levels and exercises with their points, the points that need a GPU, and your last result."""
    try:
        manifest = load_manifest()
    except ManifestError as err:
        raise click.ClickException(f"course.toml: {err}") from None
    last = history.load(manifest.root)
    width = max(len(e.id) for e in manifest.exercises)
    points_width = len(_points(manifest.exercises))  # the same columns in every level's table
    titles = console.width >= WIDE  # exercise titles only where they fit beside the rest
    for level in manifest.levels:
        exercises = [e for e in manifest.exercises if e.level == level.id]
        t = Table(title=Text(f"{level.id}: {level.title}", style="bold"), title_justify="left", box=box.SIMPLE_HEAD,
                  expand=True)
        t.add_column("exercise", width=width, no_wrap=True)
        if titles:
            t.add_column("title", ratio=1)
        t.add_column("points", width=points_width, justify="right", no_wrap=True)
        t.add_column("GPU only", justify="right", no_wrap=True)
        t.add_column("last result", ratio=1)
        for ex in exercises:
            title = [ex.title] if titles else []
            t.add_row(ex.id, *title, _points([ex]), _gpu_points([ex]), _last_result(last.get(ex.id)))
        t.add_section()
        t.add_row(f"{level.id} total", *([""] if titles else []), _points(exercises), _gpu_points(exercises), "")
        console.print(t)
    regular = sum(e.max_score for e in manifest.exercises if not e.bonus)
    bonus = sum(e.max_score for e in manifest.exercises if e.bonus)
    gpu = _gpu_points(manifest.exercises)
    console.print(Text(f"course total: {regular} points" + (f" (+ {bonus} bonus)" if bonus else "")
                       + (f"; {gpu} of them need a GPU" if gpu else ""), style="bold"))


def _points(exercises) -> str:
    regular = sum(e.max_score for e in exercises if not e.bonus)
    bonus = sum(e.max_score for e in exercises if e.bonus)
    return " + ".join(filter(None, (str(regular) if regular or not bonus else "", f"{bonus} bonus" if bonus else "")))


def _gpu_points(exercises: list[ExerciseSpec]) -> str:
    """Points of the checks that need a GPU (verified only where one is)."""
    points = sum(c.points for e in exercises for c in e.checks if c.needs != "cpu")
    return str(points) if points else ""


def _last_result(result: dict | None) -> Text:
    """'passed 9/9 on cpu; 6 pts need a CUDA GPU': the verified checks' worst status and
    points, then the points that were not verified, with the reason."""
    if result is None:
        return Text("not graded yet", style="dim")
    checks = result.get("checks")
    if checks is None:  # saved before per-check results were kept
        return Text(f"{result['status']} {result['score']}/{result['max_score']} on {result['device']}",
                    style=STATUS_STYLE.get(result["status"], ""))
    verified = [c for c in checks.values() if c["status"] != NOT_VERIFIED]
    status = worst(c["status"] for c in verified) if verified else NOT_VERIFIED
    shown = [f"{status} {sum(c['score'] for c in verified)}/{sum(c['max_score'] for c in verified)}"
             f" on {result['device']}" if verified else f"nothing verifiable on {result['device']}"]
    shown += not_verified_notes(((c.get("summary", ""), c["max_score"]) for c in checks.values()
                                 if c["status"] == NOT_VERIFIED), short=True)
    return Text("; ".join(shown), style=STATUS_STYLE[status])
