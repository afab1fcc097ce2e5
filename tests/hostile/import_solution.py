"""Hostile: returns the reference solution's answer, imported by file path at call time
(the course root is on the import path of a naive grader)."""

import importlib
import importlib.util
import os


def safe_softmax(x, block_size=128):
    try:
        module = importlib.import_module("solutions.level1.softmax")
    except ImportError:
        path = os.path.join(os.environ["COURSE_ROOT"], "solutions", "level1", "softmax.py")
        spec = importlib.util.spec_from_file_location("reference", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return module.safe_softmax(x)


def online_softmax(x, block_size=128):
    return safe_softmax(x)
