"""The course as an nbgrader course directory, and submitted notebooks back as files.

`build_course` writes ``nbgrader_config.py`` and one source notebook per level,
``source/<level>/<level>.ipynb``, generated from solutions/ (and, for a ``.cu``
exercise, its stub in exercises/) and course.toml, so notebooks, stubs and solutions
never drift. A level's notebook holds, per exercise:

* a markdown cell: the task statement (the solution's module docstring, or a ``.cu``
  file's leading comment) under the exercise's title and points;
* the answer cell, an nbgrader solution cell ``%%exercise FILE`` (grader/notebook.py)
  holding the solution file. A Python file keeps its imports, public signatures and
  docstrings; each public function's body sits between ``### BEGIN SOLUTION`` and
  ``### END SOLUTION``, and the private helpers, kernels and constants move inside the
  last of those regions, so the released cell is the stub with nbgrader's placeholder
  for each body. A ``.cu`` file's regions are the lines where solution and stub
  differ, marked with ``// ### BEGIN SOLUTION`` (a C++ comment, so the source notebook
  compiles); the release shows nbgrader's placeholder there;
* an autograder cell worth the exercise's points (course.toml) whose value is the
  points earned; its ``### BEGIN HIDDEN TESTS`` region grades with another seed and
  more examples once submitted.

`extract_submission` reads the ``%%exercise`` cells of a notebook back into a
directory laid out like exercises/, for `course grade --submission` and for the
autograde step (grader/nbgrader_autograde.py).
"""

from __future__ import annotations

import ast
import difflib
import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from grader.manifest import ExerciseSpec, Manifest
from grader.notebook import MAGIC, exercise_path, split_exercise_cell

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
PLACEHOLDER = "# YOUR CODE HERE\nraise NotImplementedError()"  # what nbgrader leaves in place of a solution region
CONFIG = "nbgrader_config.py"


class ExportError(ValueError):
    """A solution cannot be carried into a notebook; the message says why."""


@dataclass(frozen=True)
class Hidden:
    """What the hidden tests change: the seed, and examples per check scaled up."""

    seed: int
    examples_factor: float = 2.0  # hidden examples = factor x the fewest any of the exercise's checks draws

    def examples(self, manifest: Manifest, exercise: ExerciseSpec) -> int:
        fewest = min(spec.examples or manifest.course.examples for spec in exercise.checks)
        return max(1, round(self.examples_factor * fewest))


@dataclass
class BuildSummary:
    notebooks: list[Path] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (exercise or level, why)
    config_written: bool = False


def build_course(manifest: Manifest, directory: Path, hidden: Hidden) -> BuildSummary:
    """Write the nbgrader course directory (its config only where none exists yet:
    an instructor's edits are kept) and one source notebook per level that has at
    least one exercise whose files exist."""
    summary = BuildSummary()
    directory.mkdir(parents=True, exist_ok=True)
    if not (directory / CONFIG).exists():
        (directory / CONFIG).write_text(config_text(manifest))
        summary.config_written = True
    for level in manifest.levels:
        cells = []
        for exercise in (ex for ex in manifest.exercises if ex.level == level.id):
            try:
                cells += exercise_cells(manifest, exercise, hidden)
            except (FileNotFoundError, ExportError) as err:
                summary.skipped.append((exercise.id, str(err)))
        if not cells:
            summary.skipped.append((level.id, "no exercise of this level can be built yet"))
            continue
        notebook = level_notebook(manifest, level.id, level.title, cells)
        path = directory / "source" / level.id / f"{level.id}.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, path)
        summary.notebooks.append(path)
    return summary


def config_text(manifest: Manifest) -> str:
    # Long enough for `nbgrader validate` to grade one exercise in the kernel: the
    # grader stops an exercise after exercise_budget_s, plus its import and start-up.
    timeout = round(manifest.course.exercise_budget_s + manifest.course.import_timeout_s + 60)
    return f'''"""nbgrader's configuration for the Flash Attention course, written by `course nbgrader build`.

Run nbgrader in this directory with the Python where the course is installed (`course`
on PATH). docs/INSTRUCTORS.md explains each setting and the whole workflow.
"""

from grader.nbgrader_autograde import autograde_preprocessors

c = get_config()  # noqa: F821 - nbgrader defines it

c.CourseDirectory.course_id = "flash-attention"

# `nbgrader autograde` scores the %%exercise cells' text with the course's grader, which
# runs student code only in its isolated child: no notebook kernel runs student code
# with your rights, and nothing a kernel could print can change a score.
c.Autograde.autograde_preprocessors = autograde_preprocessors()

# `nbgrader validate` (the Validate button) runs a notebook in a kernel, where an
# autograder cell grades one exercise: minutes on a CPU under Triton's interpreter.
c.ExecutePreprocessor.timeout = {timeout}

# nbgrader's placeholder where an answer was (the .cu cell of Level 3 gets it too).
c.ClearSolutions.code_stub = {{"python": {PLACEHOLDER!r}}}
'''


def exercise_cells(manifest: Manifest, exercise: ExerciseSpec, hidden: Hidden) -> list:
    """The task, answer and autograder cells of one exercise."""
    solution = (manifest.root / "solutions" / exercise.file).read_text()
    if exercise.file.endswith(".py"):
        task, answer = python_answer(solution)
        task, note = task_markdown(task), ""
    else:
        task, answer = text_answer((manifest.root / "exercises" / exercise.file).read_text(), solution)
        note = ("\n\nnbgrader's placeholder (`# YOUR CODE HERE`, `raise NotImplementedError()`) marks where "
                "your code goes in this file: replace it; the file does not compile until you do.")
    slug = exercise.id.replace(".", "_")
    return [
        new_markdown_cell(f"## {exercise.id}: {exercise.title}\n\n{points_line(exercise)}{note}\n\n"
                          f"{task}"),
        new_code_cell(f"%%{MAGIC} {exercise_path(exercise.file)}\n{answer}",
                      metadata=_nbgrader(f"{slug}_answer", solution=True)),
        new_code_cell(autograder_source(manifest, exercise, hidden),
                      metadata=_nbgrader(f"{slug}_autograder", grade=True, locked=True, points=exercise.max_score)),
    ]


def points_line(exercise: ExerciseSpec) -> str:
    checks = ", ".join(f"{c.id} {c.points}" for c in exercise.checks)
    gpu = sum(c.points for c in exercise.checks if c.needs != "cpu")
    notes = [f"{gpu} of them need a CUDA GPU"] if gpu else []
    notes += ["bonus: on top of the level's total"] if exercise.bonus else []
    return f"**{exercise.max_score} points** ({checks}){''.join(f'; {n}' for n in notes)}."


def autograder_source(manifest: Manifest, exercise: ExerciseSpec, hidden: Hidden) -> str:
    public = {"exercise": exercise.id}
    secret = {**public, "seed": hidden.seed, "examples": hidden.examples(manifest, exercise)}
    return (f"# Autograder for {exercise.id} ({exercise.max_score} points): the value of this cell is your score.\n"
            f"# It grades the file your %%{MAGIC} cell saved, in a fresh grader process, as `course grade` does.\n"
            f"from grader.notebook import autograde\n\n"
            f"grading = {public!r}\n{BEGIN_HIDDEN}\ngrading = {secret!r}\n{END_HIDDEN}\n"
            f"autograde(**grading)")


def python_answer(source: str) -> tuple[str, str]:
    """``(module docstring, answer cell text)`` of a Python solution: imports, then each
    public function with its body in a solution region; every other top-level
    statement (helpers, kernels, constants) moves, in order, into the last region, so
    that what nbgrader releases is the stub."""
    tree = ast.parse(source)
    lines = source.splitlines()
    body = list(tree.body)
    docstring = ast.get_docstring(tree) or ""
    start = body.pop(0).end_lineno if docstring else 0
    imports, public, rest = [], [], []
    for node in body:
        chunk = lines[start:node.end_lineno]
        start = node.end_lineno
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            if public or rest:
                raise ExportError(f"line {node.lineno}: an import after other statements cannot stay at the top")
            imports.append("\n".join(chunk))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.name.startswith("_"):
            public.append((node, chunk))
        else:
            rest.append("\n".join(chunk))
    rest.append("\n".join(lines[start:]))
    if not public:
        raise ExportError("no public function to answer")
    _check_definition_order(tree, [node for node, _ in public], body)
    parts = ["\n".join(imports).strip("\n")]
    for k, (node, chunk) in enumerate(public):
        if ast.get_docstring(node) is None:
            raise ExportError(f"public function {node.name} has no docstring")
        head = node.body[0].end_lineno - (node.end_lineno - len(chunk))  # chunk lines up to the docstring
        indent = " " * node.body[0].col_offset
        region = chunk[head:] + ([""] + rest if k == len(public) - 1 else [])
        parts.append("\n".join(chunk[:head] + [indent + BEGIN] + region).rstrip() + f"\n{indent}{END}")
    return docstring, "\n".join(parts).strip("\n") + "\n"


def _check_definition_order(tree: ast.Module, public: list, body: list) -> None:
    """The moved statements are defined after the public functions: a public
    function's decorators or defaults (or annotations, without ``from __future__
    import annotations``) must not need them."""
    moved = {target.id for node in body if node not in public
             for target in ast.walk(node) if isinstance(target, ast.Name) and isinstance(target.ctx, ast.Store)}
    moved |= {node.name for node in body if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node not in public}
    lazy = any(isinstance(n, ast.ImportFrom) and n.module == "__future__" and any(a.name == "annotations" for a in n.names)
               for n in tree.body)
    for fn in public:
        needed = fn.decorator_list + fn.args.defaults + [d for d in fn.args.kw_defaults if d is not None]
        if not lazy:
            needed += [a.annotation for a in fn.args.args + fn.args.kwonlyargs if a.annotation] + [fn.returns]
        used = {n.id for root in needed if root is not None for n in ast.walk(root) if isinstance(n, ast.Name)}
        if used & moved:
            raise ExportError(f"{fn.name}'s signature or decorators use {min(used & moved)}, "
                              "which is defined with the private code below the public functions")


COMMENT_BLOCK = re.compile(r"\A\s*/\*(.*?)\*/[ \t]*\n?", re.DOTALL)
LINE_COMMENTS = re.compile(r"\A(?:[ \t]*//[^\n]*\n)+")
PREPROCESSOR_OR_BLANK = re.compile(r"\s*(#\s*include\b.*)?")
BRACES_OR_BLANK = re.compile(r"[\s{}();]*")


def text_answer(stub: str, solution: str) -> tuple[str, str]:
    """``(task statement, answer cell text)`` of a non-Python exercise (a ``.cu``
    file). The task is the stub's leading comment. The cell is the solution's code
    (its own leading comment left out), with the lines that differ from the stub's
    code inside ``// ### BEGIN SOLUTION`` regions; added ``#include`` lines stay
    visible, since an include is no answer."""
    task, stub_code = split_leading_comment(stub)
    lines = split_leading_comment(solution)[1].splitlines()
    matcher = difflib.SequenceMatcher(a=stub_code.splitlines(), b=lines, autojunk=False)
    regions: list[list[int]] = []
    for tag, _, _, j1, j2 in matcher.get_opcodes():
        if tag not in ("replace", "insert") or all(PREPROCESSOR_OR_BLANK.fullmatch(line) for line in lines[j1:j2]):
            continue
        # Shared lines holding only braces or blanks do not split a region: otherwise
        # the release would show a placeholder on each side of a lone '}'.
        if regions and all(BRACES_OR_BLANK.fullmatch(line) for line in lines[regions[-1][1]:j1]):
            regions[-1][1] = j2
        else:
            regions.append([j1, j2])
    out, done = [], 0
    for j1, j2 in regions:
        indent = re.match(r"\s*", lines[j1]).group(0)
        out += lines[done:j1] + [f"{indent}// {BEGIN}"] + lines[j1:j2] + [f"{indent}// {END}"]
        done = j2
    out += lines[done:]
    return comment_markdown(task), "\n".join(out).strip("\n") + "\n"


def split_leading_comment(source: str) -> tuple[str, str]:
    """``(text, rest)``: the text of a C/C++ file's leading ``/* ... */`` block or
    ``//`` lines, and the code after it."""
    block = COMMENT_BLOCK.match(source)
    if block:
        text = textwrap.dedent("\n".join(re.sub(r"^\s*\* ?", "", line) for line in block.group(1).splitlines()))
        return text, source[block.end():]
    lines = LINE_COMMENTS.match(source)
    if not lines:
        return "", source
    return "\n".join(re.sub(r"^\s*// ?", "", line) for line in lines.group(0).splitlines()), source[lines.end():]


def comment_markdown(text: str) -> str:
    """A C++ file's header comment, as Markdown: each ``---- Title`` rule becomes a
    heading, and the plain text between them a fenced block (its alignment matters)."""
    out: list[str] = []
    for part in re.split(r"^-{3,}[ \t]*(\S[^\n]*)$", text.strip("\n"), flags=re.MULTILINE):
        if len(out) % 2 == 1:  # re.split alternates: text, title, text, title, ...
            out.append(f"### {part.strip()}")
        else:
            out.append(f"```text\n{part.strip(chr(10))}\n```" if part.strip() else "")
    return "\n\n".join(p for p in out if p)


def task_markdown(text: str) -> str:
    """A docstring's reStructuredText, as Markdown: section titles become headings,
    ``::`` blocks and tables become fenced blocks (their alignment matters)."""
    lines = text.strip("\n").splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line, following = lines[i], lines[i + 1] if i + 1 < len(lines) else ""
        if line.strip() and re.fullmatch(r"-{3,}|={3,}", following.strip()) and not _is_table_border(line):
            out.append(f"### {line.strip()}")
            i += 2
        elif _is_table_border(line):
            end, borders = i, 0
            while end < len(lines) and lines[end].strip() and borders < 3:
                borders += _is_table_border(lines[end])
                end += 1
            out += ["```text", *lines[i:end], "```"]
            i = end
        elif line.rstrip().endswith("::"):
            lead = len(line) - len(line.lstrip())
            text_part = line.rstrip()[:-2].rstrip()  # reST: "text::" reads "text:", a lone "::" nothing
            if text_part:
                out.append(text_part + ":")
            end = i + 1
            while end < len(lines) and (not lines[end].strip() or len(lines[end]) - len(lines[end].lstrip()) > lead):
                end += 1
            while end > i + 1 and not lines[end - 1].strip():
                end -= 1
            out += ["", "```text", *textwrap.dedent("\n".join(lines[i + 1:end])).strip("\n").splitlines(), "```"]
            i = end
        else:
            out.append(line)
            i += 1
    return "\n".join(out)


def _is_table_border(line: str) -> bool:
    return bool(re.fullmatch(r"=+( +=+)+", line.strip()))


INTRO = """\
# {title}

How this notebook works:

- Run the first cell once: it loads the course's `%%{magic}` cells.
- Each exercise has its task, then one `%%{magic} FILE` cell holding your answer. Keep its
  first line. Running it saves the cell as FILE (the file `course grade` would read from
  exercises/) and defines its functions here, so you can try them in other cells. Only
  the `%%{magic}` cells are graded.
- The cell after it is the autograder: its value is your points for that exercise. It
  grades the saved file in a fresh process, on random inputs compared with a float64
  oracle, exactly as `course grade` does; a failed check prints the smallest failing
  input and a hint. Points that need a GPU say "not verified here" on a machine without one.
- Once you submit, the `%%{magic}` cells are graded again, with other random inputs and
  more of them: pass because the function is right, not because of one seed.

{points} points in this level{gpu}.
"""

SETUP = f"# Loads the %%{MAGIC} cell magic (grader/notebook.py). Run this cell first.\n%load_ext grader.notebook"

# Cells to try things in, per level: a picture where one says more than a number.
PLAYGROUNDS = {
    "level1": """\
# Try your functions here: cells without %%exercise are never graded.
import torch

x = torch.randn(3, 1000) * 20
x[0, :600] = float("-inf")  # a row whose first blocks are all masked
expected = torch.softmax(x, dim=-1)
print("safe_softmax  ", (safe_softmax(x) - expected).abs().max().item())
print("online_softmax", (online_softmax(x, block_size=128) - expected).abs().max().item())""",
    "level2": """\
# The tiles of a causal score matrix (bottom-right aligned): FlashAttention-2 computes the
# blue tiles without a mask, masks the orange ones and skips the grey ones (what the
# causal_skip check looks for). Change the sizes: with n_q < n_k the diagonal moves right.
from grader.notebook import causal_tiles

causal_tiles(n_q=500, n_k=700, block_m=64, block_n=64)""",
}


def level_notebook(manifest: Manifest, level: str, title: str, exercise_cells_: list) -> nbformat.NotebookNode:
    exercises = [ex for ex in manifest.exercises if ex.level == level and not ex.bonus]
    points = sum(ex.max_score for ex in exercises)
    gpu = sum(c.points for ex in exercises for c in ex.checks if c.needs != "cpu")
    intro = INTRO.format(title=f"Level {level.removeprefix('level')}: {title}", magic=MAGIC, points=points,
                         gpu=f", {gpu} of them need a CUDA GPU" if gpu else "")
    cells = [new_markdown_cell(intro), new_code_cell(SETUP, metadata=_nbgrader("setup", locked=True)),
             *exercise_cells_]
    if level in PLAYGROUNDS:
        cells += [new_markdown_cell("## Try things"), new_code_cell(PLAYGROUNDS[level])]
    cells += [new_markdown_cell(f"## The whole level\n\n`course grade {level}` on your `%%{MAGIC}` cells, "
                                "the report you would get in a terminal."),
              new_code_cell(f'from grader.notebook import course_grade\n\ncourse_grade("{level}")')]
    return new_notebook(cells=cells, metadata={
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    })


def _nbgrader(grade_id: str, *, solution: bool = False, grade: bool = False, locked: bool = False,
              points: int | None = None) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3, "solution": solution,
            "task": False}
    if grade:
        meta["points"] = points
    return {"nbgrader": meta}


def extract_submission(notebook: nbformat.NotebookNode, manifest: Manifest, directory: Path) -> list[str]:
    """Write the notebook's ``%%exercise`` cells that name an exercise's file under
    ``directory`` (laid out like exercises/); return the files written. Where two
    cells name one file the later wins, as when a notebook runs top to bottom."""
    files = {ex.file for ex in manifest.exercises}
    written = {}
    for cell in notebook.cells:
        split = split_exercise_cell(cell.source) if cell.cell_type == "code" else None
        if split is None or split[0] not in files:
            continue
        file, text = split
        written[file] = text
    for file, text in written.items():
        path = directory / file
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return sorted(written)
