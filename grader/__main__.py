"""`python -m grader ...` is the `course` command (for machines without the console script)."""

from grader.cli import main

main(prog_name="course")
