"""The Flash Attention course's autograder.

Python API: ``grader.grade("level1", solutions=True)`` returns a GradeReport
(the same data as ``course grade --format json``).

``grade`` is imported on first use: the student's process imports ``grader.child``
and ``grader.contract`` only, and must not pull in the parent's side (the oracle,
the checks) by importing this package.
"""


def __getattr__(name: str):
    if name == "grade":
        from grader.runner import grade

        return grade
    raise AttributeError(f"module 'grader' has no attribute {name!r}")


__all__ = ["grade"]
