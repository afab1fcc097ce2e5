"""Code that runs inside the student's process, and nothing else.

Everything under ``grader/child/`` may be imported by the child; it imports nothing
from the parent's side of the grader (the oracle, the checks, the tolerance policy,
the solutions). The parent imports from here (the wire format, the names of banned
ops); never the other way round. The guard (``guard.py``) refuses the child any
import of the parent's modules once student code may run.
"""
