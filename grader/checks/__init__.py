"""Check definitions, one module per level; importing this registers them all."""

from grader.checks import level1  # noqa: F401
