"""The `course` command: this module only wires the commands together."""

from __future__ import annotations

import click

from grader.cli.bench import bench
from grader.cli.doctor import doctor
from grader.cli.grade import grade
from grader.cli.overview import list_exercises
from grader.cli.reset import reset


@click.group(epilog="Start with `course doctor`, then `course grade level1`.")
@click.version_option(package_name="flash-attention-course")
def main() -> None:
    """Flash Attention, from online softmax to MLA decode: exercises and their grader."""


main.add_command(list_exercises)
main.add_command(grade)
main.add_command(reset)
main.add_command(doctor)
main.add_command(bench)
