"""Check definitions, one module per level; importing this registers them all."""

from grader.checks import level1  # noqa: F401
from grader.checks import level2  # noqa: F401
from grader.checks import level3  # noqa: F401
from grader.checks import level4  # noqa: F401
