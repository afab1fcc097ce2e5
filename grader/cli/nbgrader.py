"""`course nbgrader build DIR` and `course nbgrader extract`: the course in nbgrader."""

from __future__ import annotations

import secrets
from pathlib import Path

import click

from grader.manifest import ManifestError, load_manifest
from grader.report import console

# nbformat and the exporter are imported by the commands that use them: every other
# `course` command (grading above all) starts without them.

EPILOG = """\b
Examples:
  course nbgrader build nbgrader-course      then, in nbgrader-course/:
    nbgrader generate_assignment level1      release/level1/level1.ipynb
    nbgrader autograde level1                scores from the course's grader
  course nbgrader extract submitted/alice/level1/level1.ipynb --into alice
  course grade level1 --submission alice     the same work, graded from files

docs/INSTRUCTORS.md walks through release, collect, autograde, feedback and export.
"""


@click.group(epilog=EPILOG)
def nbgrader() -> None:
    """Build the course as an nbgrader course directory; read notebooks back as files."""


@nbgrader.command(epilog=EPILOG)
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--hidden-seed", type=click.IntRange(min=0), help="Seed of the hidden tests [default: drawn at random].")
@click.option("--hidden-examples-factor", type=click.FloatRange(min=0, min_open=True), default=2.0,
              show_default=True, help="Hidden tests draw this many times the examples of the visible ones.")
def build(directory: Path, hidden_seed: int | None, hidden_examples_factor: float) -> None:
    """Write DIR/nbgrader_config.py (unless it exists) and DIR/source/LEVEL/LEVEL.ipynb
    for each level, generated from solutions/ and course.toml."""
    from grader.nbgrader_export import CONFIG, Hidden, build_course

    try:
        manifest = load_manifest()
    except ManifestError as err:
        raise click.ClickException(f"course.toml: {err}") from None
    hidden = Hidden(seed=secrets.randbelow(2**31) if hidden_seed is None else hidden_seed,
                    examples_factor=hidden_examples_factor)
    summary = build_course(manifest, directory, hidden)
    console.print(f"{'wrote' if summary.config_written else 'kept the existing'} {directory / CONFIG}")
    for path in summary.notebooks:
        console.print(f"wrote {path}")
    for what, why in summary.skipped:
        console.print(f"skipped {what}: {why}")
    console.print(f"hidden tests: seed {hidden.seed}, {hidden.examples_factor:g}x the examples "
                  "(in source/ only: nbgrader removes them from the release)")
    console.print(f"next, in {directory}: nbgrader generate_assignment LEVEL (docs/INSTRUCTORS.md)")


@nbgrader.command(epilog=EPILOG)
@click.argument("notebooks", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--into", "directory", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="The directory to write, laid out like exercises/.")
def extract(notebooks: tuple[Path, ...], directory: Path) -> None:
    """Write the %%exercise cells of NOTEBOOKS as files under --into DIR, for
    `course grade --submission DIR` (or Gradescope's --format gradescope)."""
    import nbformat

    from grader.nbgrader_export import extract_submission

    try:
        manifest = load_manifest()
    except ManifestError as err:
        raise click.ClickException(f"course.toml: {err}") from None
    for path in notebooks:
        try:
            notebook = nbformat.read(path, as_version=4)
        except Exception as err:  # noqa: BLE001 - nbformat raises several kinds for a file that is no notebook
            raise click.ClickException(f"{path}: not a notebook ({err})") from None
        written = extract_submission(notebook, manifest, directory)
        console.print(f"{path}: " + (", ".join(str(directory / f) for f in written) or "no %%exercise cells"))
