"""`course repro CHECK`: a script that rebuilds your last failure of CHECK."""

from __future__ import annotations

import click

from grader import history
from grader.manifest import Manifest, ManifestError, load_manifest
from grader.report import err_console
from grader.results import NOT_IMPLEMENTED, PASSED

EPILOG = """\b
Example:
  course grade level1.softmax
  course repro level1.softmax.online_softmax > repro.py
  python -i repro.py        # then inspect x and result
"""


@click.command(epilog=EPILOG)
@click.argument("check")
def repro(check: str) -> None:
    """Print a Python script that rebuilds the smallest failing input of your last
    failure of CHECK (such as level2.flash_v2.oracle) and calls your function on it."""
    try:
        manifest = load_manifest()
    except ManifestError as err:
        raise click.ClickException(f"course.toml: {err}") from None
    exercise_id, _, name = check.rpartition(".")
    if not any(ex.id == exercise_id and name in {c.id for c in ex.checks} for ex in manifest.exercises):
        raise click.BadParameter(_unknown(manifest, check), param_hint="CHECK")
    path = history.repro_path(manifest.root, check)
    last = history.load(manifest.root).get(exercise_id, {}).get("checks", {}).get(name)
    if not path.is_file():
        raise click.ClickException(_nothing_to_rebuild(check, exercise_id, last))
    click.echo(path.read_text(), nl=False)
    if last is not None and last["status"] == PASSED:
        err_console.print(f"note: {check} passed in your last grade; this script rebuilds its last failure")
    err_console.print(f"(also saved as {path})")


def _unknown(manifest: Manifest, check: str) -> str:
    for ex in manifest.exercises:
        if ex.id == check:
            return f"{check} is an exercise; name one of its checks: " + ", ".join(f"{ex.id}.{c.id}" for c in ex.checks)
    return f"unknown check {check!r}: checks are named EXERCISE.CHECK, such as level2.flash_v2.oracle"


def _nothing_to_rebuild(check: str, exercise_id: str, last: dict | None) -> str:
    if last is None:
        return (f"no failure of {check} is recorded: grade your exercise first (course grade {exercise_id}); "
                "runs with --solutions or --submission are not recorded")
    if last["status"] == PASSED:
        return f"{check} passed in your last grade, and no earlier failure is recorded"
    if last["status"] == NOT_IMPLEMENTED:
        return f"{check}: the function is not implemented yet, so there is no failing input to rebuild"
    return (f"the last failure of {check} ({last['status']}) cannot be rebuilt as a script (its inputs are made "
            f"inside the check); `course grade {exercise_id}` shows the failing example")
