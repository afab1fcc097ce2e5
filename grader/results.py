"""What grading produces: check, exercise and run results, and their JSON form.

The JSON form is the contract of COURSE_SPEC.md ("Result formats"); the rich
table, Gradescope's results.json and the notebook API all render these objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Best to worst: an exercise's status is its worst check's.
STATUSES = ("passed", "not verified here", "not implemented", "failed", "timeout", "error")
PASSED, NOT_VERIFIED, NOT_IMPLEMENTED, FAILED, TIMEOUT, ERROR = STATUSES


def worst(statuses) -> str:
    return max(statuses, key=STATUSES.index, default=PASSED)


@dataclass
class CheckResult:
    name: str
    status: str
    max_score: int
    summary: str = ""  # one line: what was checked or what went wrong
    example: str = ""  # the smallest failing input, as the student would rebuild it
    measured: float | None = None
    allowed: float | None = None
    hint: str = ""  # the likely bug
    details: str = ""  # traceback tail or what student code printed

    @property
    def score(self) -> int:
        return self.max_score if self.status == PASSED else 0

    @property
    def message(self) -> str:
        lines = [self.summary]
        if self.example:
            lines.append(f"smallest failing example: {self.example}")
        if self.measured is not None and self.allowed is not None:
            lines.append(f"error {self.measured:.3g}, allowed {self.allowed:.3g}")
        if self.hint:
            lines.append(f"hint: {self.hint}")
        if self.details:
            lines.append(self.details.rstrip())
        return "\n".join(line for line in lines if line)

    def to_dict(self) -> dict:
        return {"name": self.name, "status": self.status, "score": self.score,
                "max_score": self.max_score, "message": self.message}


@dataclass
class ExerciseResult:
    id: str
    checks: list[CheckResult] = field(default_factory=list)
    bonus: bool = False  # extra credit: counts in score, not in the run's max_score

    @property
    def status(self) -> str:
        return worst(c.status for c in self.checks)

    @property
    def score(self) -> int:
        return sum(c.score for c in self.checks)

    @property
    def max_score(self) -> int:
        return sum(c.max_score for c in self.checks)

    def to_dict(self) -> dict:
        return {"id": self.id, "score": self.score, "max_score": self.max_score, "status": self.status,
                "checks": [c.to_dict() for c in self.checks]}


@dataclass
class GradeReport:
    target: str
    device: str
    seed: int
    exercises: list[ExerciseResult] = field(default_factory=list)

    @property
    def score(self) -> int:
        return sum(e.score for e in self.exercises)

    @property
    def max_score(self) -> int:
        return sum(e.max_score for e in self.exercises if not e.bonus)

    @property
    def bonus_score(self) -> int:
        return sum(e.score for e in self.exercises if e.bonus)

    @property
    def all_verified_passed(self) -> bool:
        """Exit status 0: everything that could be verified here passed (a bonus
        exercise left as the stub does not count against it)."""
        fine = (PASSED, NOT_VERIFIED)
        return all(c.status in fine or (e.bonus and e.status == NOT_IMPLEMENTED)
                   for e in self.exercises for c in e.checks)

    def to_dict(self) -> dict:
        return {"target": self.target, "device": self.device, "seed": self.seed, "score": self.score,
                "max_score": self.max_score, "exercises": [e.to_dict() for e in self.exercises]}
