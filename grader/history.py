"""The student's last results, for `course list` and `course repro`.

Kept under .course/ in the course root, and only for grading the student's own
exercises/ (not --solutions or another --submission):

- ``last_results.json``: per exercise, the device, the score and every check's
  status and points (so `course list` can tell points that failed from points this
  machine could not verify);
- ``repro/<exercise>.<check>.py``: for each check, the script that rebuilds its
  last failure (grader/repro.py), until a later failure replaces it.
"""

from __future__ import annotations

import json
from pathlib import Path

from grader.results import GradeReport

FILE = Path(".course") / "last_results.json"
REPRO_DIR = Path(".course") / "repro"


def load(root: Path) -> dict[str, dict]:
    """``{exercise id: {"status", "score", "max_score", "device", "checks": {name:
    {"status", "score", "max_score", "summary"}}}}``; results saved before "checks"
    existed lack it."""
    try:
        return json.loads((root / FILE).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def repro_path(root: Path, check_id: str) -> Path:
    """Where the script of ``check_id`` (level1.softmax.online_softmax) is kept."""
    return root / REPRO_DIR / f"{check_id}.py"


def save(root: Path, report: GradeReport) -> None:
    data = load(root)
    for ex in report.exercises:
        data[ex.id] = {
            "status": ex.status, "score": ex.score, "max_score": ex.max_score, "device": report.device,
            "checks": {c.name: {"status": c.status, "score": c.score, "max_score": c.max_score, "summary": c.summary}
                       for c in ex.checks},
        }
        for c in ex.checks:
            if c.repro:
                path = repro_path(root, f"{ex.id}.{c.name}")
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(c.repro)
    path = root / FILE
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(data, indent=2))
