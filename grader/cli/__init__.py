"""The `course` command: this module only wires the commands together."""

from __future__ import annotations

import os
import signal

import click

from grader.cli.bench import bench
from grader.cli.doctor import doctor
from grader.cli.grade import grade
from grader.cli.nbgrader import nbgrader
from grader.cli.overview import list_exercises
from grader.cli.repro import repro
from grader.cli.reset import reset
from grader.isolation import terminate_all


@click.group(epilog="Start with `course doctor`, then `course grade level1`; `course repro CHECK` rebuilds a failure.")
@click.version_option(package_name="flash-attention-course")
def main() -> None:
    """Flash Attention, from online softmax to MLA decode: exercises and their grader."""
    signal.signal(signal.SIGTERM, _terminated)


def _terminated(signum, frame) -> None:
    """SIGTERM: kill every student process and remove its files, then exit at once
    (unwinding would let hypothesis retry the call it interrupted)."""
    terminate_all()
    os._exit(128 + signum)


main.add_command(list_exercises)
main.add_command(grade)
main.add_command(reset)
main.add_command(repro)
main.add_command(doctor)
main.add_command(bench)
main.add_command(nbgrader)
