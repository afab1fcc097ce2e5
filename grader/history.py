"""The student's last result per exercise, shown by `course list`.

Stored in .course/last_results.json under the course root, and only for grading
the student's own exercises/ (not --solutions or another --submission).
"""

from __future__ import annotations

import json
from pathlib import Path

from grader.results import GradeReport

FILE = Path(".course") / "last_results.json"


def load(root: Path) -> dict[str, dict]:
    try:
        return json.loads((root / FILE).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def save(root: Path, report: GradeReport) -> None:
    data = load(root)
    for ex in report.exercises:
        data[ex.id] = {"status": ex.status, "score": ex.score, "max_score": ex.max_score, "device": report.device}
    path = root / FILE
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(data, indent=2))
