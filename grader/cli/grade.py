"""`course grade TARGET`: parse, grade, display, exit 0 / 1 / 2."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from grader import history
from grader.manifest import ManifestError, load_manifest
from grader.report import ProgressDisplay, console, err_console, render_text, table, to_gradescope, to_json
from grader.runner import grade as run_grade, resolve_device

EPILOG = """\b
Examples:
  course grade level1                     grade your exercises/level1
  course grade level2.flash_v2 --seed 7   one exercise, other random examples
  course grade all --solutions            the reference solutions (full marks)
  course grade level1 --format json       one JSON object on stdout
  course grade all --submission DIR --format gradescope --output results.json
"""


@click.command(epilog=EPILOG)
@click.argument("target")
@click.option("--solutions", is_flag=True, help="Grade solutions/ instead of exercises/.")
@click.option("--submission", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Grade DIR, laid out like exercises/.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--examples", type=click.IntRange(min=1), help="Hypothesis examples per check.")
@click.option("--seed", type=int, help="Hypothesis seed (default: course.toml's, printed in the report).")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "gradescope"]), default="table",
              show_default=True)
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="Write the report to FILE.")
@click.option("--no-timing", is_flag=True, help="Skip the timing checks.")
def grade(target, solutions, submission, device, examples, seed, fmt, output, no_timing) -> None:
    """Grade TARGET: all, a level (level2) or an exercise (level2.flash_v2)."""
    if solutions and submission:
        raise click.UsageError("--solutions and --submission are mutually exclusive")
    try:
        manifest = load_manifest()
        manifest.select(target)
        resolve_device(device)
    except ManifestError as err:
        raise click.ClickException(f"course.toml: {err}") from None
    except KeyError as err:
        raise click.BadParameter(err.args[0], param_hint="TARGET") from None
    except ValueError as err:
        raise click.UsageError(str(err)) from None
    with ProgressDisplay() as progress:
        report = run_grade(target, submission=submission, solutions=solutions, device=device, seed=seed,
                           examples=examples, timing=not no_timing, manifest=manifest, progress=progress)
    if not solutions and submission is None:
        history.save(manifest.root, report)
    text = {"json": to_json, "gradescope": to_gradescope, "table": render_text}[fmt](report)
    if output is not None:
        output.write_text(text)
        err_console.print(f"wrote {output}")
    elif fmt == "table":
        console.print(table(report))
    else:
        click.echo(text)
    if fmt == "table":
        verdict = "everything verifiable passed" if report.all_verified_passed else "some checks did not pass"
        bonus = f", {report.bonus_score} of them bonus" if report.bonus_score else ""
        err_console.print(f"score {report.score}/{report.max_score}{bonus}: {verdict} (seed {report.seed})")
    sys.exit(0 if report.all_verified_passed else 1)
