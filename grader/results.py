"""What grading produces: check, exercise and run results, and their JSON form.

The JSON form is the contract of COURSE_SPEC.md ("Result formats", docs/CONTRACT.md);
the terminal report, Gradescope's results.json and the notebook API all render these
objects.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

# Best to worst: an exercise's status is its worst check's.
STATUSES = ("passed", "not verified here", "not implemented", "failed", "timeout", "error")
PASSED, NOT_VERIFIED, NOT_IMPLEMENTED, FAILED, TIMEOUT, ERROR = STATUSES


def worst(statuses) -> str:
    return max(statuses, key=STATUSES.index, default=PASSED)


def not_verified_notes(checks, short: bool = False) -> list[str]:
    """The points not verified here, grouped by reason: '6 points need a CUDA GPU and
    were not verified here' ('6 pts need a CUDA GPU' when ``short``). ``checks``
    yields ``(summary, points)`` of the checks not verified; the reason is the
    summary up to its first ';' (the runner writes 'needs a CUDA GPU; this run has no
    GPU in use', a timing check 'timing skipped (--no-timing)')."""
    points: dict[str, int] = {}
    for summary, n in checks:
        reason = summary.split(";")[0].strip()
        points[reason] = points.get(reason, 0) + n
    notes = []
    for reason, n in points.items():
        count = f"{n} pt{'' if n == 1 else 's'}" if short else f"{n} point{'' if n == 1 else 's'}"
        if reason.startswith("needs "):
            need = reason if n == 1 else "need " + reason.removeprefix("needs ")
            tail = "" if short else f" and {'was' if n == 1 else 'were'} not verified here"
            notes.append(f"{count} {need}{tail}")
        else:
            notes.append(f"{count} not verified{'' if short else ' here'}: {reason}")
    return notes


def _json_number(x: float | None) -> float | None:
    """JSON has no inf or NaN: a non-finite measurement is reported as null."""
    return x if x is not None and math.isfinite(x) else None


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
    seconds: float = 0.0  # wall time of the check, set by the runner
    repro: str = ""  # a Python snippet rebuilding the failing call (`course repro`); not in the JSON

    @property
    def score(self) -> int:
        return self.max_score if self.status == PASSED else 0

    @property
    def error_line(self) -> str:
        """'error X, allowed Y', unless the summary already states the allowed error
        (the tolerance and timing messages do): the error is stated once."""
        if self.measured is None or self.allowed is None or "allowed" in self.summary:
            return ""
        return f"error {self.measured:.3g}, allowed {self.allowed:.3g}"

    @property
    def message(self) -> str:
        lines = [
            self.summary,
            f"smallest failing example: {self.example}" if self.example else "",
            self.error_line,
            f"hint: {self.hint}" if self.hint else "",
            self.details.rstrip(),
        ]
        return "\n".join(line for line in lines if line)

    def to_dict(self) -> dict:
        return {"name": self.name, "status": self.status, "score": self.score, "max_score": self.max_score,
                "message": self.message, "example": self.example, "error": _json_number(self.measured),
                "allowed": _json_number(self.allowed), "hint": self.hint, "seconds": round(self.seconds, 3)}


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
    seed: int  # the public seed; with a secret, the examples were drawn from a hash of both
    exercises: list[ExerciseResult] = field(default_factory=list)
    secret: bool = False  # $COURSE_SECRET_SEED was mixed into the seed (the secret is never stored)

    @property
    def score(self) -> int:
        """All points earned, bonus included (the spec's JSON `score`)."""
        return sum(e.score for e in self.exercises)

    @property
    def max_score(self) -> int:
        """The points of the regular exercises: bonus points are extra."""
        return sum(e.max_score for e in self.exercises if not e.bonus)

    @property
    def bonus_score(self) -> int:
        return sum(e.score for e in self.exercises if e.bonus)

    @property
    def bonus_max_score(self) -> int:
        return sum(e.max_score for e in self.exercises if e.bonus)

    def not_verified_notes(self) -> list[str]:
        return not_verified_notes((c.summary, c.max_score) for e in self.exercises for c in e.checks
                                  if c.status == NOT_VERIFIED)

    @property
    def seed_label(self) -> str:
        """The seed as reports print it: the secret and the mixed seed stay hidden."""
        return f"{self.seed} + secret" if self.secret else str(self.seed)

    @property
    def all_verified_passed(self) -> bool:
        """Exit status 0: everything that could be verified here passed (a bonus
        exercise left as the stub does not count against it)."""
        fine = (PASSED, NOT_VERIFIED)
        return all(c.status in fine or (e.bonus and e.status == NOT_IMPLEMENTED)
                   for e in self.exercises for c in e.checks)

    def to_dict(self) -> dict:
        data = {"target": self.target, "device": self.device, "seed": self.seed, "score": self.score,
                "max_score": self.max_score, "exercises": [e.to_dict() for e in self.exercises]}
        if self.secret:
            data["secret_seed"] = True  # `--seed` alone does not replay this run
        return data
