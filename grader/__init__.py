"""The Flash Attention course's autograder.

Python API: ``grader.grade("level1", solutions=True)`` returns a GradeReport
(the same data as ``course grade --format json``).
"""

from grader.runner import grade

__all__ = ["grade"]
