"""`course grade TARGET`: parse, grade, display, exit 0 / 1 / 2."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from grader import history
from grader.isolation import sandbox_available
from grader.manifest import ManifestError, is_file_target, load_manifest
from grader.report import ProgressDisplay, console, err_console, render, render_text, score_lines, to_gradescope, \
    to_json
from grader.runner import grade as run_grade, resolve_device

EPILOG = """\b
Examples:
  course grade level1                     grade your exercises/level1
  course grade exercises/level1/softmax.py   one exercise, named by its file
  course grade level2.flash_v2 --seed 7   one exercise, other random examples
  course repro level2.flash_v2.oracle     then rebuild its failure in a REPL
  course grade all --solutions            the reference solutions (full marks)
  course grade level1 --format json       one JSON object on stdout
  course grade all --submission DIR --format gradescope --output results.json

\b
Final grading: COURSE_SECRET_SEED=... in the environment mixes a secret into
the seed; reports say "seed S + secret" and never show it. --sandbox adds an
OS sandbox (bubblewrap) around student code.
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
@click.option("--sandbox", is_flag=True,
              help="Instructors: run student code under bubblewrap (read-only file system, no solutions/, no network).")
def grade(target, solutions, submission, device, examples, seed, fmt, output, no_timing, sandbox) -> None:
    """Grade TARGET: all, a level (level2), an exercise (level2.flash_v2) or an
    exercise's file (exercises/level2/flash_v2.py, or one under --submission DIR)."""
    if solutions and submission:
        raise click.UsageError("--solutions and --submission are mutually exclusive")
    try:
        manifest = load_manifest()
        graded = submission or manifest.root / ("solutions" if solutions else "exercises")
        chosen = manifest.select(target, graded)
        resolve_device(device)
        if sandbox and not sandbox_available():
            raise ValueError("--sandbox needs bubblewrap (bwrap): apt-get install bubblewrap, or grade without it")
    except ManifestError as err:
        raise click.ClickException(f"course.toml: {err}") from None
    except KeyError as err:
        raise click.BadParameter(err.args[0], param_hint="TARGET") from None
    except ValueError as err:
        raise click.UsageError(str(err)) from None
    if is_file_target(target):
        target = chosen[0].id
    with ProgressDisplay() as progress:
        report = run_grade(target, submission=submission, solutions=solutions, device=device, seed=seed,
                           examples=examples, timing=not no_timing, sandbox=sandbox, manifest=manifest,
                           progress=progress)
    own = not solutions and submission is None  # the student's exercises/: remembered for list and repro
    if own:
        history.save(manifest.root, report)
    if output is not None:
        output.write_text({"json": to_json, "gradescope": to_gradescope, "table": render_text}[fmt](report))
        err_console.print(f"wrote {output}", *score_lines(report), sep="\n")
    elif fmt == "table":
        console.print(render(report, repro=own))
    else:
        click.echo(to_json(report) if fmt == "json" else to_gradescope(report))
    sys.exit(0 if report.all_verified_passed else 1)
