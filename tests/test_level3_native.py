"""Level 3's native layer on a machine with nvcc (CI has nvcc and no GPU): the
builder, its cache, compile errors with file and line, the binding's exceptions,
the Python side's input checks, and the `compiles` check of the grader."""

import shutil
import tempfile
from pathlib import Path

import pytest
import torch

import grader
import kernels
from grader.child import native
from kernels import builder
from conftest import ROOT, SUBMISSIONS, check_of, wrong_kernels

pytestmark = pytest.mark.skipif(kernels.nvcc_path() is None, reason="needs nvcc")
gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

STUB = ROOT / "exercises" / "level3" / "flash_fwd.cu"
SOLUTION = ROOT / "solutions" / "level3" / "flash_fwd.cu"
SCALAR = SUBMISSIONS / "level3" / "flash_fwd" / "scalar.cu"


@pytest.fixture(scope="module")
def module_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("build-cache")


@pytest.fixture
def cache(module_cache, monkeypatch) -> Path:
    """A build cache of this module's own (the binding and the solution are compiled
    once for all its tests), never the user's."""
    monkeypatch.setenv(builder.CACHE_ENV, str(module_cache))
    return module_cache


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv(builder.CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


def _copy(source: Path, directory: Path, text: str | None = None) -> Path:
    path = directory / "flash_fwd.cu"
    path.write_text(source.read_text() if text is None else text)
    return path


def grade_cu(source: Path | str, timing: bool = False, **options):
    """Grade ``source`` (a path or the text of a .cu file) as level3.flash_fwd."""
    with tempfile.TemporaryDirectory(prefix="course-submission-") as tmp:
        target = Path(tmp) / "level3" / "flash_fwd.cu"
        target.parent.mkdir()
        target.write_text(source.read_text() if isinstance(source, Path) else source)
        (result,) = grader.grade("level3.flash_fwd", submission=Path(tmp), timing=timing, **options).exercises
    return result


@pytest.mark.parametrize("source", [STUB, SOLUTION, SCALAR], ids=["stub", "solution", "scalar"])
def test_compiles(source, cache):
    assert kernels.build(source).path.is_file()


def _cuobjdump() -> str | None:
    beside_nvcc = Path(kernels.nvcc_path()).resolve().parent / "cuobjdump"
    return shutil.which("cuobjdump") or (str(beside_nvcc) if beside_nvcc.is_file() else None)


@pytest.mark.skipif(_cuobjdump() is None, reason="cuobjdump is not installed (CUDA's minimal compiler package)")
def test_module_holds_sm80_and_sm90(cache):
    listing = builder._run([_cuobjdump(), "--list-elf", str(kernels.build(SOLUTION).path)]).stdout
    assert "sm_80" in listing and "sm_90" in listing, listing


def test_cache_hit_and_rebuilds(fresh_cache, tmp_path, monkeypatch):
    source = _copy(SCALAR, tmp_path)
    first = kernels.build(source)
    assert not first.cached
    again = kernels.build(source)
    assert again.cached and again.path == first.path and again.seconds < 0.5
    source.write_text(source.read_text() + "\n// an edit\n")
    edited = kernels.build(source)
    assert not edited.cached and edited.path != first.path
    # A change to a course header rebuilds too (the headers are hashed into every key).
    include = tmp_path / "include"
    shutil.copytree(builder.INCLUDE, include)
    (include / "course" / "tensor.cuh").write_text((include / "course" / "tensor.cuh").read_text() + "\n")
    monkeypatch.setattr(builder, "INCLUDE", include)
    rebuilt = kernels.build(source)
    assert not rebuilt.cached and rebuilt.path != edited.path


def test_syntax_error_names_file_and_line(cache, tmp_path):
    lines = SCALAR.read_text().splitlines()
    broken_line = next(i for i, line in enumerate(lines) if "float m = -INFINITY" in line)
    lines[broken_line] = lines[broken_line].replace(";", "")  # a missing semicolon
    source = _copy(SCALAR, tmp_path, "\n".join(lines) + "\n")
    with pytest.raises(kernels.BuildError) as caught:
        kernels.build(source)
    errors = "\n".join(caught.value.errors)
    assert f"{source}({broken_line + 2})" in errors or f"{source}({broken_line + 1})" in errors, errors
    assert "/tmp" not in errors.replace(str(source), "")  # the temporary copy's path is mapped back

    result = grade_cu(source, device="cpu")
    check = check_of(result, "compiles")
    assert check.status == "failed" and "flash_fwd.cu(" in check.summary and "error" in check.summary


def test_wrong_signature_named_at_build_time(cache, tmp_path):
    text = STUB.read_text().replace("float softmax_scale,", "double softmax_scale,")
    with pytest.raises(kernels.BuildError, match="does not define flash_fwd with the signature"):
        kernels.build(_copy(STUB, tmp_path, text))


@pytest.mark.parametrize("code, named", [
    ('#include <dlfcn.h>\nvoid* grab() { return dlsym(RTLD_DEFAULT, "cublasGemmEx"); }\n', "dlsym"),
    ('extern "C" int PyRun_SimpleString(const char*);\nint run() { return PyRun_SimpleString("import torch"); }\n',
     "PyRun_SimpleString"),
    ('#include <cstdlib>\nint sh() { return std::system("true"); }\n', "system"),
])
def test_calls_around_the_kernel_are_refused(code, named, cache, tmp_path):
    with pytest.raises(kernels.BuildError, match=f"calls {named}.*nothing else"):
        kernels.build(_copy(STUB, tmp_path, STUB.read_text() + code))


def test_including_the_course_is_refused(cache, tmp_path):
    text = f'#include "{SOLUTION}"\n'
    with pytest.raises(kernels.BuildError, match="a submission is one file"):
        kernels.build(_copy(STUB, tmp_path, text))
    with pytest.raises(kernels.BuildError, match="incbin"):
        kernels.build(_copy(STUB, tmp_path, STUB.read_text() + '\nasm(".incbin \\"/etc/hostname\\"");\n'))


def test_binding_maps_not_implemented(cache):
    extension = native.load_extension(str(kernels.build(STUB).path))
    fake = (0, [1, 1, 1, 64], [64, 64, 64, 1], 0)
    with pytest.raises(NotImplementedError, match="level3.flash_fwd: not implemented yet"):
        extension.flash_fwd(fake, fake, fake, fake, (0, [1, 1, 1], [1, 1, 1], 2), False, 0.125, 0)


@pytest.mark.parametrize("change, phrase", [
    ({"dtype": torch.float32}, "dtype"),
    ({"dim": 80}, "head dim"),
    ({"dim_v": 128}, "v head dim"),
    ({"heads_kv": 4}, "multiple"),
    ({}, "cuda"),  # CPU tensors: the kernel would read host memory
])
def test_python_side_rejects_before_launch(change, phrase):
    dtype, dim = change.get("dtype", torch.float16), change.get("dim", 64)
    q = torch.randn(1, 6, 5, dim).to(dtype)
    k = torch.randn(1, change.get("heads_kv", 2), 7, dim).to(dtype)
    v = torch.randn(1, change.get("heads_kv", 2), 7, change.get("dim_v", dim)).to(dtype)
    with pytest.raises((ValueError, TypeError), match=phrase):
        native.flash_attn_cuda(None, q, k, v)  # never reaches the (absent) extension


def test_stub_grades_not_implemented_on_cpu(cache):
    result = grade_cu(STUB, device="cpu")
    statuses = {c.name: c.status for c in result.checks}
    assert statuses == {"compiles": "not implemented", "oracle": "not verified here",
                        "edge_cases": "not verified here", "sanitizer": "not verified here",
                        "speed": "not verified here"}
    assert result.score == 0


@pytest.mark.parametrize("source", [SOLUTION, SCALAR], ids=["solution", "scalar"])
def test_compiles_check_passes(source, cache):
    check = check_of(grade_cu(source, device="cpu"), "compiles")
    assert check.status == "passed" and "sm_80 and sm_90" in check.summary


def test_stub_and_solution_share_the_signature():
    """The .cu stub and its solution are not generated from one another (the stub's
    header is the task, the solution's the design): they must agree on the function
    they define, and the stub must read in the house order and raise once."""
    def definition(text: str) -> str:
        start = text.index("\nvoid flash_fwd(")
        return " ".join(text[start:text.index("{", start)].split())

    stub, solution = STUB.read_text(), SOLUTION.read_text()
    assert definition(stub) == definition(solution)
    header = stub[:stub.index("#include")]
    sections = ["Task", "Math", "Signature", "Cost", "Hints", "Grading"]
    positions = [header.index(f"- {name}\n") for name in sections]
    assert positions == sorted(positions) and "course grade level3.flash_fwd" in header
    body = stub[stub.index("{", stub.index("\nvoid flash_fwd(")) + 1:stub.rindex("}")].strip()
    assert body == 'throw course::NotImplemented("level3.flash_fwd: not implemented yet");'


@pytest.mark.gpu
@gpu
def test_gpu_solution_full_marks():
    (result,) = grader.grade("level3.flash_fwd", solutions=True, device="cuda", examples=10).exercises
    assert [c.name for c in result.checks] == ["compiles", "oracle", "edge_cases", "sanitizer", "speed"]
    assert [c.status for c in result.checks] == ["passed"] * 5, [(c.name, c.summary) for c in result.checks]


@pytest.mark.gpu
@gpu
def test_gpu_stub_not_implemented():
    result = grade_cu(STUB, device="cuda", timing=True)
    assert {c.status for c in result.checks} == {"not implemented"} and result.score == 0


@pytest.mark.gpu
@gpu
def test_gpu_scalar_kernel_earns_correctness_not_speed():
    result = grade_cu(SCALAR, device="cuda", timing=True, examples=10)
    statuses = {c.name: c.status for c in result.checks}
    assert statuses == {"compiles": "passed", "oracle": "passed", "edge_cases": "passed", "sanitizer": "passed",
                        "speed": "failed"}, \
        [(c.name, c.summary) for c in result.checks]
    assert "ratio" in check_of(result, "speed").summary


def test_repro_script_builds_the_cu_file():
    import ast

    from grader.inputs import AttentionCase
    from grader.repro import Call, snippet

    case = AttentionCase(1, 2, 1, 97, 97, 64, 64, "float16", True, None, False, 1.0, 5)
    q, k, v = case.tensors()
    text = snippet(case, [Call("flash_attn_cuda", (q, k, v), case.kwargs(), None)], check_id="level3.flash_fwd.oracle",
                   path=Path("exercises/level3/flash_fwd.cu"), module="student_level3_flash_fwd", device="cuda",
                   interpret=False, verdict="failed")
    ast.parse(text)
    assert "kernels.load('exercises/level3/flash_fwd.cu')" in text and "spec_from_file_location" not in text


def test_bench_gives_the_child_a_readable_reference(cache):
    import contextlib
    import stat

    from grader.cli.bench import _built_reference

    with contextlib.ExitStack() as stack:
        copy = Path(_built_reference(STUB, stack))
        assert copy.suffix == ".so" and not copy.is_relative_to(cache)
        assert stat.S_IMODE(copy.stat().st_mode) == 0o644 and stat.S_IMODE(copy.parent.stat().st_mode) == 0o755
    assert not copy.exists()  # removed with the benchmark's process


def test_every_wrong_kernel_is_made_from_todays_solution():
    """The wrong kernels of the GPU suite are edits of the reference
    (scripts/level3_wrong_kernels.py): each edit must still find its text in the
    solution, and change it. Checked here because their suite runs only on a GPU."""
    generator = wrong_kernels("level3")
    for stem in generator.WRONG:
        header = generator.WRONG[stem][0]
        text = generator.wrong_kernel(stem)  # asserts that each edit finds its text
        assert header.startswith("// WRONG on purpose") and text.startswith(header), stem
        assert text[len(header):] != generator.CODE, f"{stem}: the edits change nothing"
