"""course.toml, loaded into typed, frozen objects.

The manifest is the single place for points, hardware needs, example counts,
tolerances and timing shapes. Unknown and missing keys are errors that name the
key: a typo in course.toml must never silently change a grade.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HARDWARE = ("cpu", "gpu", "sm90")  # cpu: verifiable anywhere; gpu: any CUDA device; sm90: Hopper
DTYPES = ("float32", "float16", "bfloat16")
BENCH_KINDS = ("attention", "mla_decode")


class ManifestError(ValueError):
    """course.toml is malformed; the message names the offending key."""


@dataclass(frozen=True)
class BenchShape:
    batch: int  # timing shapes are fixed so ratios compare like with like
    heads: int  # query heads
    n: int  # attention: Nq = Nk; mla_decode: the cached length of every sequence
    head_dim: int
    dtype: str = "float16"
    causal: bool = False
    kind: str = "attention"  # attention: q, k, v [batch, heads, n, head_dim]; mla_decode: a paged decode step
    head_dim_v: int | None = None  # mla_decode: V is k_cache[..., :head_dim_v]
    s_q: int = 1  # mla_decode: query tokens per sequence
    block_size: int = 64  # mla_decode: tokens per page of the cache (one kv head, as DeepSeek's MLA)


@dataclass(frozen=True)
class CheckSpec:
    id: str
    points: int
    needs: str = "cpu"  # hardware the check needs to be verified (see HARDWARE)
    examples: int | None = None  # hypothesis examples; None: the course default
    max_ratio: float | None = None  # timing checks: student time / reference time allowed
    bench: BenchShape | None = None  # timing checks: the shape that is timed


@dataclass(frozen=True)
class ExerciseSpec:
    id: str  # levelN.name, the file's stem
    title: str
    functions: tuple[str, ...]
    checks: tuple[CheckSpec, ...]
    file: str = ""  # relative to exercises/; default levelN/name.py
    interpret_on_cpu: bool = False  # Triton exercises run under TRITON_INTERPRET=1 without a GPU
    bonus: bool = False  # extra credit: its points are not in the run's max_score
    tolerance: "Tolerance | None" = None  # overrides [tolerance] where this exercise's numerics differ

    @property
    def level(self) -> str:
        return self.id.split(".")[0]

    @property
    def name(self) -> str:
        return self.id.split(".")[1]

    @property
    def max_score(self) -> int:
        return sum(c.points for c in self.checks)


@dataclass(frozen=True)
class LevelSpec:
    id: str
    title: str


@dataclass(frozen=True)
class Tolerance:
    factor: float  # allowed error = factor * (same-dtype naive error) + floor[dtype]
    floor: dict[str, float]  # absolute slack per dtype, for where the naive error is ~0


@dataclass(frozen=True)
class CourseSettings:
    seed: int  # default hypothesis seed: grading is reproducible unless --seed changes it
    examples: int  # default hypothesis examples per check
    call_timeout_s: float  # one call into student code (per example)
    import_timeout_s: float  # importing the student module (Triton/torch imports are slow)
    shrink_budget_s: float  # stop shrinking a failure after this long; report the smallest so far
    exercise_budget_s: float  # all checks of one exercise together: a slow answer cannot stretch a run to hours
    memory_limit_gib: float  # the student process's address space when grading on the CPU (RLIMIT_AS)


@dataclass(frozen=True)
class Manifest:
    root: Path
    course: CourseSettings
    tolerance: Tolerance
    levels: tuple[LevelSpec, ...]
    exercises: tuple[ExerciseSpec, ...] = field(default=())

    def exercise(self, exercise_id: str) -> ExerciseSpec:
        for ex in self.exercises:
            if ex.id == exercise_id:
                return ex
        raise KeyError(exercise_id)

    def select(self, target: str, directory: Path | None = None) -> tuple[ExerciseSpec, ...]:
        """Exercises named by a CLI target: 'all', 'level2', 'level2.flash_v2', or the
        path of an exercise's file under ``directory`` (the directory being graded,
        default exercises/), relative to the working directory or absolute, such as
        exercises/level2/flash_v2.py. Raises KeyError naming what would be valid."""
        if target == "all":
            return self.exercises
        if is_file_target(target):
            return (self._exercise_at(target, self.root / "exercises" if directory is None else Path(directory)),)
        chosen = tuple(ex for ex in self.exercises if target in (ex.id, ex.level))
        if not chosen:
            known = ", ".join(["all"] + [lv.id for lv in self.levels] + [ex.id for ex in self.exercises])
            raise KeyError(f"unknown target {target!r}; choose one of: {known}, or an exercise's file")
        return chosen

    def _exercise_at(self, target: str, directory: Path) -> ExerciseSpec:
        path, directory = Path(target).resolve(), directory.resolve()
        if not path.is_relative_to(directory):
            raise KeyError(f"{target} is not under {directory}, the directory being graded")
        relative = path.relative_to(directory).as_posix()
        for ex in self.exercises:
            if ex.file == relative:
                return ex
        raise KeyError(f"no exercise is graded from {relative}; exercises' files: "
                       + ", ".join(ex.file for ex in self.exercises))


def is_file_target(target: str) -> bool:
    """A target written as a file (exercises/level1/softmax.py), not an id (level1.softmax)."""
    return "/" in target or os.sep in target or target.endswith((".py", ".cu"))


def _build(cls, table: Any, where: str, **extra):
    """Construct dataclass ``cls`` from a TOML table, rejecting unknown or missing keys."""
    if not isinstance(table, dict):
        raise ManifestError(f"{where} must be a table")
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(table) - set(names)
    if unknown:
        raise ManifestError(f"unknown key {where}.{sorted(unknown)[0]}")
    kwargs = dict(extra)
    for name, f in names.items():
        if name in extra:
            continue
        if name in table:
            kwargs[name] = table[name]
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ManifestError(f"missing key {where}.{name}")
    return cls(**kwargs)


def _check_spec(check_id: str, table: dict, where: str) -> CheckSpec:
    table = dict(table)
    bench = table.pop("bench", None)
    spec = _build(CheckSpec, table, where, id=check_id,
                  bench=_build(BenchShape, bench, f"{where}.bench") if bench is not None else None)
    if spec.needs not in HARDWARE:
        raise ManifestError(f"{where}.needs is {spec.needs!r}; allowed: {', '.join(HARDWARE)}")
    if (spec.max_ratio is None) != (spec.bench is None):
        raise ManifestError(f"{where}: a timing check needs both max_ratio and bench")
    if spec.bench is not None and spec.bench.dtype not in DTYPES:
        raise ManifestError(f"{where}.bench.dtype is {spec.bench.dtype!r}; allowed: {', '.join(DTYPES)}")
    if spec.bench is not None and spec.bench.kind not in BENCH_KINDS:
        raise ManifestError(f"{where}.bench.kind is {spec.bench.kind!r}; allowed: {', '.join(BENCH_KINDS)}")
    if spec.bench is not None and spec.bench.kind == "mla_decode" and spec.bench.head_dim_v is None:
        raise ManifestError(f"missing key {where}.bench.head_dim_v")
    return spec


def _exercise_spec(exercise_id: str, table: dict, where: str) -> ExerciseSpec:
    table = dict(table)
    checks = table.pop("checks", None)
    if not checks:
        raise ManifestError(f"missing key {where}.checks")
    specs = tuple(_check_spec(cid, ctable, f"{where}.checks.{cid}") for cid, ctable in checks.items())
    table["functions"] = tuple(table.get("functions", ()))
    if "tolerance" in table:
        table["tolerance"] = _tolerance(table["tolerance"], f"{where}.tolerance")
    ex = _build(ExerciseSpec, table, where, id=exercise_id, checks=specs)
    if not ex.file:
        ex = dataclasses.replace(ex, file=f"{ex.level}/{ex.name}.py")
    return ex


def _tolerance(table, where: str) -> Tolerance:
    tol = _build(Tolerance, table, where)
    for dtype in DTYPES:
        if dtype not in tol.floor:
            raise ManifestError(f"missing key {where}.floor.{dtype}")
    unknown = set(tol.floor) - set(DTYPES)
    if unknown:
        raise ManifestError(f"unknown key {where}.floor.{sorted(unknown)[0]}")
    return tol


def load_manifest(root: Path | None = None) -> Manifest:
    root = course_root() if root is None else Path(root)
    path = root / "course.toml"
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ManifestError(f"no course.toml in {root}") from None
    except tomllib.TOMLDecodeError as err:
        raise ManifestError(f"{path}: {err}") from None
    data = dict(data)
    course = _build(CourseSettings, data.pop("course", None), "course")
    tol = _tolerance(data.pop("tolerance", None), "tolerance")
    levels_table = data.pop("levels", None) or {}
    levels = tuple(_build(LevelSpec, t, f"levels.{lid}", id=lid) for lid, t in levels_table.items())
    exercises = []
    for level_id, group in (data.pop("exercises", None) or {}).items():
        if level_id not in levels_table:
            raise ManifestError(f"exercises.{level_id}: no such level in [levels]")
        for name, table in group.items():
            exercises.append(_exercise_spec(f"{level_id}.{name}", table, f"exercises.{level_id}.{name}"))
    if data:
        raise ManifestError(f"unknown key {sorted(data)[0]}")
    return Manifest(root=root, course=course, tolerance=tol, levels=levels, exercises=tuple(exercises))


def course_root() -> Path:
    """The directory holding course.toml: $COURSE_ROOT, else the nearest parent of
    the working directory that has one, else the checkout this package lives in."""
    if "COURSE_ROOT" in os.environ:
        return Path(os.environ["COURSE_ROOT"]).resolve()
    here = Path.cwd().resolve()
    for candidate in (here, *here.parents):
        if (candidate / "course.toml").is_file():
            return candidate
    return Path(__file__).resolve().parent.parent
