"""`course nbgrader build` with the real nbgrader: the course directory it writes,
`nbgrader generate_assignment` for every level, release notebooks without solution
code, and `nbgrader autograde` read back through nbgrader's gradebook: full marks for
what this machine can verify on the source notebook, zero for the untouched release
and for cheats, what it earns for a submission that warns. Then the notebook as a
student runs it (a real kernel): the autograder cell's value is a plain float and
nothing reaches its stderr, whatever the kernel did before it.

Level 1 is autograded in full; the other levels get `generate_assignment`, and the
newest level with a `.cu` exercise one reference autograde (it carries the `.cu` answer
through a notebook). `nbgrader autograde` of every level's reference would cost
minutes of CI on two cores (Level 2's Triton kernel runs under the interpreter).
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner
from nbgrader.api import Gradebook

from conftest import HOSTILE, ROOT
from grader.cli import main
from grader.manifest import load_manifest
from grader.nbgrader_autograde import ScoreOutsideKernel, autograde_preprocessors, grading_settings
from grader.nbgrader_export import (BEGIN, CONFIG, END, PLACEHOLDER, ExportError, Hidden, extract_submission,
                                    python_answer, task_markdown, text_answer)
from grader.notebook import SCORED_OUTSIDE, autograde, causal_tiles, course_grade, exercise_path
from grader.runner import resolve_device
from grader.stubs import make_stub
from kernels.builder import nvcc_path

MANIFEST = load_manifest()
HIDDEN_SEED = 4242
HIDDEN_FACTOR = 1.0  # the hidden tests draw the course's examples under another seed: CI time, not a weaker test
NBGRADER = [sys.executable, "-m", "nbgrader"]


def verifiable_points(exercises) -> int:
    """The points of ``exercises`` (bonus apart) that this machine can verify."""
    machine = resolve_device("auto")
    return sum(c.points for ex in exercises if not ex.bonus for c in ex.checks if machine.can_verify(c.needs))


def buildable(exercise) -> bool:
    files = [ROOT / "solutions" / exercise.file]
    files += [] if exercise.file.endswith(".py") else [ROOT / "exercises" / exercise.file]
    return all(f.is_file() for f in files)


LEVELS = sorted({ex.level for ex in MANIFEST.exercises if buildable(ex)})


@pytest.fixture(scope="module", autouse=True)
def tools_beside_this_python():
    """nbgrader runs `alembic` from PATH (for its gradebook): the one beside this
    Python, as in an activated virtualenv."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
        yield


def run_nbgrader(course: Path, *args: str) -> str:
    done = subprocess.run([*NBGRADER, *args], cwd=course, capture_output=True, text=True, timeout=1200,
                          check=False)
    assert done.returncode == 0, f"nbgrader {' '.join(args)} exited {done.returncode}:\n{done.stdout}{done.stderr}"
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    """The course built into a fresh directory, every level's assignment generated."""
    directory = tmp_path_factory.mktemp("nbgrader") / "course"
    result = CliRunner().invoke(main, ["nbgrader", "build", str(directory), "--hidden-seed", str(HIDDEN_SEED),
                                       "--hidden-examples-factor", str(HIDDEN_FACTOR)])
    assert result.exit_code == 0, result.output
    for level in LEVELS:
        run_nbgrader(directory, "generate_assignment", level)
    return directory


def answer_cells(notebook) -> dict[str, str]:
    """{file: cell source} of a notebook's %%exercise cells."""
    return {c.source.split()[1]: c.source for c in notebook.cells if c.source.startswith("%%exercise")}


def read(path: Path):
    return nbformat.read(path, as_version=4)


def submit(course: Path, student: str, level: str, notebook) -> None:
    path = course / "submitted" / student / level / f"{level}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)


def with_answer(notebook, file: str, text: str):
    """``notebook`` with the %%exercise cell of ``file`` holding ``text``."""
    notebook = nbformat.from_dict(json.loads(json.dumps(notebook)))
    (cell,) = [c for c in notebook.cells if c.source.startswith(f"%%exercise {file}\n")]
    cell.source = f"%%exercise {file}\n{text}"
    return notebook


def scores(course: Path, level: str) -> dict[str, float]:
    """{student: score} of ``level``, read through nbgrader's gradebook."""
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        return {s.student.id: s.score for s in gradebook.assignment_submissions(level)}


# ---------------------------------------------------------------- the build


def test_build_writes_config_and_a_notebook_per_level(course):
    assert (course / CONFIG).is_file()
    for level in LEVELS:
        notebook = read(course / "source" / level / f"{level}.ipynb")
        exercises = [ex for ex in MANIFEST.exercises if ex.level == level and buildable(ex)]
        assert sorted(answer_cells(notebook)) == sorted(ex.file for ex in exercises)
        graded = {c.metadata.nbgrader.grade_id: c.metadata.nbgrader.points
                  for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade")}
        assert graded == {f"{ex.id.replace('.', '_')}_autograder": ex.max_score for ex in exercises}
    # A second build regenerates the notebooks and keeps the instructor's config.
    (course / CONFIG).write_text((course / CONFIG).read_text() + "\n# edited\n")
    result = CliRunner().invoke(main, ["nbgrader", "build", str(course), "--hidden-seed", str(HIDDEN_SEED),
                                       "--hidden-examples-factor", str(HIDDEN_FACTOR)])
    assert result.exit_code == 0 and "kept the existing" in result.output
    assert (course / CONFIG).read_text().endswith("# edited\n")


def test_config_replaces_execute_and_sets_a_timeout(course):
    """nbgrader ignores a config file that raises (and then autogrades in a kernel):
    load it as nbgrader does and look at what it sets."""
    from nbgrader.preprocessors import Execute
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader(CONFIG, path=str(course)).load_config()
    steps = config.Autograde.autograde_preprocessors
    assert ScoreOutsideKernel in steps and Execute not in steps
    assert steps == autograde_preprocessors()
    assert Execute(config=config).timeout >= MANIFEST.course.exercise_budget_s


def test_release_holds_no_solution_code(course):
    for level in LEVELS:
        release = (course / "release" / level / f"{level}.ipynb").read_text()
        for marker in ("BEGIN SOLUTION", "END SOLUTION", "HIDDEN TESTS", str(HIDDEN_SEED)):
            assert marker not in release, f"{level}: {marker!r} in the release"
        for file, source in answer_cells(read(course / "release" / level / f"{level}.ipynb")).items():
            answer = source.split("\n", 1)[1]
            stub = (ROOT / "exercises" / file).read_text()
            if file.endswith(".py"):
                # The released cell is the stub, its module docstring in the markdown
                # above and nbgrader's placeholder in place of each `raise` line.
                exercise = next(ex for ex in MANIFEST.exercises if ex.file == file)
                expected = make_stub((ROOT / "solutions" / file).read_text(), exercise.id)
                expected = re.sub(r"^( *)raise NotImplementedError\(.*\)$",
                                  lambda m: textwrap_indent(PLACEHOLDER, m.group(1)), expected, flags=re.MULTILINE)
                assert code_lines(answer) == code_lines(expected, skip_docstring=True), file
            else:
                extra = ({line.strip() for line in code_lines(answer)} - {line.strip() for line in stub.splitlines()}
                         - set(PLACEHOLDER.splitlines()))
                assert all(re.fullmatch(r"#\s*include\b.*", line) for line in extra), (file, extra)


def textwrap_indent(text: str, indent: str) -> str:
    return "\n".join(indent + line for line in text.splitlines())


def code_lines(source: str, skip_docstring: bool = False) -> list[str]:
    """Non-blank lines, stripped of trailing space; without the module docstring."""
    if skip_docstring:
        tree = ast.parse(source)
        if ast.get_docstring(tree) is not None:
            source = "\n".join(source.splitlines()[tree.body[0].end_lineno:])
    return [line.rstrip() for line in source.splitlines() if line.strip()]


# ---------------------------------------------------------------- autograde


NOISY = """
import torch

torch.tensor(torch.ones(2))  # UserWarning at import: copy-constructing from a tensor
"""
NOISY_CALL = "    x = torch.tensor(x)  # UserWarning on every call\n"

CHEAT_CELL = """\
# A cheat: what an autograder cell calls, patched to report full marks.
import grader.notebook, grader.runner
grader.runner.grade = lambda *args, **kwargs: None
grader.notebook.autograde = lambda *args, **kwargs: 8.0
print(8.0)
8.0
"""


def noisy_softmax() -> str:
    """The reference softmax, warning at import and on every call of safe_softmax."""
    source = (ROOT / "solutions" / "level1" / "softmax.py").read_text()
    marker = '    """\n    _check_x(x)\n'
    assert source.count(marker) >= 1
    return source.replace(marker, '    """\n' + NOISY_CALL + "    _check_x(x)\n", 1) + NOISY


def cheating(notebook):
    """The release, with the cheat cell before the autograder cells, every autograder
    cell's source replaced by a float, and the softmax answer a hostile file that
    prints a forged full-marks report."""
    notebook = with_answer(notebook, "level1/softmax.py", (HOSTILE / "forged_print.py").read_text())
    notebook.cells.insert(2, nbformat.v4.new_code_cell(CHEAT_CELL))
    for cell in notebook.cells:
        if cell.metadata.get("nbgrader", {}).get("grade"):
            cell.source = "8.0"
    return notebook


@pytest.mark.slow
def test_autograde_level1(course):
    source = read(course / "source" / "level1" / "level1.ipynb")
    release = read(course / "release" / "level1" / "level1.ipynb")
    submit(course, "reference", "level1", source)
    submit(course, "untouched", "level1", release)
    submit(course, "noisy", "level1", with_answer(release, "level1/softmax.py", noisy_softmax()))
    submit(course, "cheater", "level1", cheating(release))
    log = run_nbgrader(course, "autograde", "level1", "--create")
    level1 = [ex for ex in MANIFEST.exercises if ex.level == "level1"]
    softmax = MANIFEST.exercise("level1.softmax")
    assert scores(course, "level1") == {"reference": verifiable_points(level1), "untouched": 0,
                                        "noisy": verifiable_points([softmax]), "cheater": 0}
    # The hidden tests ran: their seed and examples are in the instructor's log.
    examples = Hidden(HIDDEN_SEED, HIDDEN_FACTOR).examples(MANIFEST, softmax)
    assert f"level1.softmax: 8 / 8 points (seed {HIDDEN_SEED}, {examples} examples per check)" in log
    graded = read(course / "autograded" / "reference" / "level1" / "level1.ipynb")
    for cell in graded.cells:
        if cell.metadata.get("nbgrader", {}).get("grade"):
            assert [o.output_type for o in cell.outputs] == ["stream", "execute_result"]
            assert cell.outputs[0].name == "stdout" and float(cell.outputs[1].data["text/plain"]) > 0
    cheat = read(course / "autograded" / "cheater" / "level1" / "level1.ipynb")
    softmax_cell = next(c for c in cheat.cells if c.metadata.get("nbgrader", {}).get("grade_id")
                        == "level1_softmax_autograder")
    assert "autograde(**grading)" in softmax_cell.source  # nbgrader restored the cell
    run_nbgrader(course, "generate_feedback", "level1")
    assert (course / "feedback" / "cheater" / "level1" / "level1.html").is_file()


@pytest.mark.slow
def test_autograde_carries_a_cu_answer(course):
    """The newest level with a .cu exercise: the source notebook's answers, extracted
    outside the kernel, earn what this machine verifies."""
    levels = [lv for lv in LEVELS if any(ex.level == lv and ex.file.endswith(".cu") for ex in MANIFEST.exercises)]
    if not levels:
        pytest.skip("no level has a .cu exercise yet")
    level = levels[-1]
    submit(course, "reference", level, read(course / "source" / level / f"{level}.ipynb"))
    run_nbgrader(course, "autograde", level, "--create")
    exercises = [ex for ex in MANIFEST.exercises if ex.level == level and buildable(ex)]
    if nvcc_path() is None:  # without nvcc a .cu file cannot be built: none of its checks are verified
        exercises = [ex for ex in exercises if not ex.file.endswith(".cu")]
    assert scores(course, level)["reference"] == verifiable_points(exercises)


# ---------------------------------------------------------------- the notebook in a kernel


@pytest.mark.slow
def test_autograder_cell_in_a_kernel(course, tmp_path, monkeypatch):
    """`nbgrader validate`'s way of running a notebook: the release with the noisy
    softmax, then a cell that patches the grader and writes to stderr. Each autograder
    cell still ends in the honest plain float with nothing on stderr."""
    from nbclient import NotebookClient

    notebook = with_answer(read(course / "release" / "level1" / "level1.ipynb"), "level1/softmax.py",
                           noisy_softmax())
    answer = next(i for i, c in enumerate(notebook.cells) if c.source.startswith("%%exercise level1/softmax.py"))
    notebook.cells.insert(answer + 1, nbformat.v4.new_code_cell(
        "import sys, warnings\nwarnings.simplefilter('always')\nprint('noise', file=sys.stderr)\n"
        "import grader.runner\ngrader.runner.grade = None  # kernel-level monkeypatching"))
    monkeypatch.setenv("NBGRADER_EXECUTION", "validate")  # the kernel inherits it
    NotebookClient(notebook, timeout=900, allow_errors=True, resources={"metadata": {"path": str(tmp_path)}}).execute()
    values = {}
    for cell in notebook.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade"):
            kinds = [(o.output_type, o.get("name")) for o in cell.outputs]
            assert kinds == [("stream", "stdout"), ("execute_result", None)], (meta["grade_id"], cell.outputs)
            values[meta["grade_id"]] = cell.outputs[1].data["text/plain"]
    assert values == {"level1_naive_attention_autograder": "0.0", "level1_softmax_autograder": "8.0",
                      "level1_merge_autograder": "0.0"}
    noisy = notebook.cells[answer]
    assert any(o.get("name") == "stderr" and "UserWarning" in o.text for o in noisy.outputs)  # it did warn


def test_autograde_refuses_to_score_inside_nbgraders_autograde(monkeypatch, capsys):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    with pytest.raises(RuntimeError, match="scored outside the notebook's kernel"):
        autograde("level1.softmax")
    assert "ScoreOutsideKernel" in SCORED_OUTSIDE
    course_grade("level1")  # the whole-level cell does not grade twice while nbgrader runs the notebook
    assert "skipped while nbgrader runs the notebook" in capsys.readouterr().out


# ---------------------------------------------------------------- the pieces


def test_an_unknown_graded_cell_scores_zero_not_full_marks():
    """nbgrader gives full marks to a graded cell with no output; autograde runs no
    notebook code, so a graded cell that is not the course's gets an error instead."""
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "assert True", metadata={"nbgrader": {"grade": True, "solution": False, "grade_id": "mine", "points": 3}})])
    ScoreOutsideKernel().preprocess(notebook, {})
    assert [o.output_type for o in notebook.cells[0].outputs] == ["error"]
    assert "not one of the course's autograder cells" in notebook.cells[0].outputs[0].evalue


def test_grading_settings():
    cell = "grading = {'exercise': 'level1.softmax'}\n### BEGIN HIDDEN TESTS\ngrading = " \
           "{'exercise': 'level1.softmax', 'seed': 5, 'examples': 9}\n### END HIDDEN TESTS\nautograde(**grading)"
    assert grading_settings(cell) == {"exercise": "level1.softmax", "seed": 5, "examples": 9}
    for bad in ("8.0", "grading = {'exercise': 'x', 'points': 8}", "grading = {'seed': 1}", "grading = ("):
        with pytest.raises(ValueError):
            grading_settings(bad)


def test_extract_submission(tmp_path):
    cells = [nbformat.v4.new_code_cell(s) for s in (
        "%%exercise level1/softmax.py\nfirst = 1\n",
        "x = 1  # an experiment: never graded",
        "%%exercise level1/softmax.py\nsecond = 2\n",  # run later, so it wins
        "%%exercise ../../evil.py\nboom\n",
        "%%exercise level9/nothing.py\nboom\n",
    )]
    written = extract_submission(nbformat.v4.new_notebook(cells=cells), MANIFEST, tmp_path)
    assert written == ["level1/softmax.py"]
    assert (tmp_path / "level1" / "softmax.py").read_text() == "second = 2\n"
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["softmax.py"]


def test_extract_command_writes_what_course_grade_reads(course, tmp_path):
    notebook = course / "source" / "level1" / "level1.ipynb"
    result = CliRunner().invoke(main, ["nbgrader", "extract", str(notebook), "--into", str(tmp_path)])
    assert result.exit_code == 0, result.output
    for ex in (ex for ex in MANIFEST.exercises if ex.level == "level1"):
        # The solution without its docstring, private code moved below the public functions.
        extracted = [line for line in code_lines((tmp_path / ex.file).read_text()) if BEGIN not in line
                     and END not in line]
        assert sorted(extracted) == sorted(code_lines((ROOT / "solutions" / ex.file).read_text(), skip_docstring=True))


def test_exercise_path_stays_inside_the_submission():
    assert str(exercise_path("level3/flash_fwd.cu")) == "level3/flash_fwd.cu"
    for bad in ("../x.py", "/etc/x.py", "level1/../../x.py", "level1/x.txt", "x.py"):
        with pytest.raises(ValueError):
            exercise_path(bad)


def test_python_answer_moves_private_code_into_the_last_region():
    source = '"""Task."""\n\nimport torch\n\n_K = 2\n\n\ndef f(x):\n    """Doc."""\n    return _g(x) * _K\n\n\n' \
             'def _g(x):\n    return x + 1\n'
    task, cell = python_answer(source)
    assert task == "Task."
    assert cell.index("def f(x):") < cell.index(BEGIN) < cell.index("return _g(x)") < cell.index("_K = 2") \
        < cell.index("def _g") < cell.index(END)
    namespace: dict = {}
    exec(cell, namespace)  # noqa: S102 - the source cell still runs: the helpers are defined before any call
    assert namespace["f"](1) == 4


def test_python_answer_refuses_a_signature_that_needs_moved_code():
    with pytest.raises(ExportError, match="_DEFAULT"):
        python_answer('"""T."""\n_DEFAULT = 3\n\n\ndef f(x=_DEFAULT):\n    """D."""\n    return x\n')


def test_text_answer_marks_what_differs_from_the_stub():
    stub = '// Task: write f.\n#include "a.h"\n\nvoid f(int x) {\n  throw NotImplemented("f");\n}\n'
    solution = ('// How f works.\n#include <cmath>\n#include "a.h"\n\nnamespace {\nint g(int x) { return x; }\n}\n\n'
                'void f(int x) {\n  g(x);\n}\n')
    task, cell = text_answer(stub, solution)
    assert "Task: write f." in task and "How f works" not in cell
    assert cell.count(f"// {BEGIN}") == 2 and "#include <cmath>" in cell.split(BEGIN)[0]
    assert "void f(int x) {" in cell.split(f"// {END}")[1].split(BEGIN)[0]


def test_task_markdown():
    text = "Title.\n\nTask\n----\nDo it::\n\n    m = max(x)\n\nnext\n\n====  ====\na     b\n====  ====\n1     2\n====  ====\n"
    assert task_markdown(text) == ("Title.\n\n### Task\nDo it:\n\n```text\nm = max(x)\n```\n\nnext\n\n```text\n"
                                   "====  ====\na     b\n====  ====\n1     2\n====  ====\n```")


def test_causal_tiles_counts():
    # Nq = Nk = 128 in 64 x 64 tiles: two diagonal tiles masked, one computed, one skipped.
    assert repr(causal_tiles(128, 128)) == "2 x 2 tiles: 1 computed, 2 masked, 1 skipped"
    # Nq < Nk: bottom-right alignment shifts the diagonal right, nothing is skipped.
    assert repr(causal_tiles(64, 256)) == "1 x 4 tiles: 3 computed, 1 masked, 0 skipped"
    assert causal_tiles(64, 256)._repr_svg_().startswith("<svg")
