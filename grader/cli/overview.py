"""`course list`: levels, exercises, points, where each check runs, last result."""

from __future__ import annotations

import click
from rich.table import Table
from rich.text import Text

from grader import history
from grader.manifest import ManifestError, load_manifest
from grader.report import STATUS_STYLE, console

WHERE = {"cpu": "cpu", "gpu": "gpu", "sm90": "sm90"}


@click.command("list")
def list_exercises() -> None:
    """List levels and exercises with points, hardware needs and your last result."""
    try:
        manifest = load_manifest()
    except ManifestError as err:
        raise click.ClickException(f"course.toml: {err}") from None
    last = history.load(manifest.root)
    t = Table(title="Flash Attention course", title_justify="left")
    for column in ("exercise", "title", "points", "verified on", "last result"):
        t.add_column(column, justify="right" if column == "points" else "left", no_wrap=column != "title")
    for level in manifest.levels:
        t.add_section()
        t.add_row(Text(level.id, style="bold"), Text(level.title, style="bold"), "", "", "")
        for ex in (e for e in manifest.exercises if e.level == level.id):
            needs = sorted({c.needs for c in ex.checks}, key=list(WHERE).index)
            result = last.get(ex.id)
            shown = (Text(f"{result['status']} {result['score']}/{result['max_score']} ({result['device']})",
                          style=STATUS_STYLE.get(result["status"], ""))
                     if result else Text("not graded yet", style="dim"))
            t.add_row(ex.id, ex.title, str(ex.max_score), ", ".join(needs), shown)
    console.print(t)
