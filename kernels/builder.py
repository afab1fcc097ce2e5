"""Build a Level 3 ``.cu`` file into a Python extension module, with a cache.

nvcc compiles the student's file for sm_80 and sm_90 (both in one call, in parallel)
into an object; the pybind11 binding (kernels/binding.cpp) is compiled once per
machine into an object of its own; nvcc links the two into ``course_native.so``. Each
piece is cached under a key hashing everything that could change it: the source,
the course's headers, the flags, nvcc's and the host's versions. A rebuild after an
edit compiles only the student's file; an unchanged file is a cache hit (no compiler
runs).

The cache lives outside the course (students' checkouts stay clean, graders' copies
need no write access): $FLASH_COURSE_CACHE, else $XDG_CACHE_HOME/flash-course, else
~/.cache/flash-course. Entries are written to a temporary name and renamed into
place, so concurrent builds never see half a file.

This runs in the grader's parent process or in a student's own Python: never in the
graded child, which may neither start nvcc nor read the course's files. Because it
runs with the grader's rights, and the module it makes runs native code in the child,
a build also refuses what would bring someone else's work into the submission: an
include of any other file of the course (nvcc's dependency list is read), .incbin,
and calls into torch, Python, the CUDA libraries, dynamic loading or new processes
(the object's undefined symbols are read). docs/GRADING.md, "Level 3", says why.
"""

from __future__ import annotations

import concurrent.futures
import functools
import hashlib
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

KERNELS = Path(__file__).resolve().parent
INCLUDE = KERNELS / "include"
BINDING = KERNELS / "binding.cpp"
MODULE_FILE = "course_native.so"  # loaded under the binding's PYBIND11_MODULE name, course_native
CACHE_ENV = "FLASH_COURSE_CACHE"
NVCC_ENV = "COURSE_NVCC"  # an nvcc that is neither on PATH nor in /usr/local/cuda/bin
ARCHS = ("80", "90")  # Ampere and Hopper: mma.sync, ldmatrix and cp.async exist on both
KEEP_MODULES = 32  # cache entries kept (the most recently used); each is a few MB
COMPILE_TIMEOUT_S = 300  # a template explosion must not hang the grader

# Fixed by the course, hashed into every key. -lineinfo lets compute-sanitizer name
# source lines and costs no speed; fast math gives exp2f a single ex2.approx.
CUDA_FLAGS = ("-O3", "-std=c++17", "--use_fast_math", "--expt-relaxed-constexpr", "-lineinfo",
              "-Xcompiler", "-fPIC")
GENCODE = tuple(flag for arch in ARCHS for flag in ("-gencode", f"arch=compute_{arch},code=sm_{arch}"))
BINDING_FLAGS = ("-O2", "-std=c++17", "-Xcompiler", "-fPIC", "-Xcompiler", "-fvisibility=hidden")


class BuildError(RuntimeError):
    """The build failed. ``log`` is the compiler's output with paths as the student
    knows them; ``errors`` its error lines, each naming file and line."""

    def __init__(self, summary: str, log: str = ""):
        super().__init__(summary if not log else f"{summary}\n{log}")
        self.summary, self.log = summary, log

    @property
    def errors(self) -> list[str]:
        return [line for line in self.log.splitlines() if re.search(r"\berror\b", line)]


@dataclass(frozen=True)
class Built:
    path: Path  # the module, course_native.so, inside the cache
    cached: bool  # True when nothing was compiled
    seconds: float


def nvcc_path() -> str | None:
    """nvcc from $COURSE_NVCC, PATH, or CUDA's default place; None when absent."""
    candidates = [os.environ.get(NVCC_ENV), shutil.which("nvcc"), "/usr/local/cuda/bin/nvcc"]
    return next((c for c in candidates if c and os.access(c, os.X_OK)), None)


def cache_dir() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "flash-course"


@functools.cache
def _versions(nvcc: str) -> str:
    """nvcc's and its host compiler's versions: a new toolkit or gcc rebuilds everything."""
    out = [_run([nvcc, "--version"]).stdout]
    host = shutil.which("c++") or shutil.which("g++")
    if host:
        out.append(_run([host, "--version"]).stdout)
    return "\n".join(out)


def _run(argv: list[str], timeout: float | None = None) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BuildError(f"{Path(argv[0]).name} took longer than {timeout:g} s and was stopped") from None


def _headers() -> list[Path]:
    return sorted(p for p in INCLUDE.rglob("*") if p.is_file())


def _key(*parts: bytes | str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "little") + data)
    return digest.hexdigest()[:24]


def _python_include() -> tuple[str, str]:
    """Python's and pybind11's header directories (BuildError naming what is missing)."""
    python = sysconfig.get_paths()["include"]
    if not os.path.isfile(os.path.join(python, "Python.h")):
        raise BuildError(f"Python's C headers (Python.h) are not in {python}: install your Python's "
                         "development package (python3-dev, or python3.X-dev)")
    try:
        import pybind11
    except ImportError:
        raise BuildError("pybind11 is not installed: pip install pybind11") from None
    return python, pybind11.get_include()


def _place(tmp: Path, final: Path) -> None:
    """Rename a finished file into the cache (atomic; a concurrent build's copy is as good)."""
    os.replace(tmp, final)


def _compile(argv: list[str], source_shown: str, source_compiled: str, what: str) -> None:
    done = _run(argv, timeout=COMPILE_TIMEOUT_S)
    if done.returncode != 0:
        log = (done.stdout + done.stderr).replace(source_compiled, source_shown).strip()
        raise BuildError(f"{what} failed to compile (nvcc exit status {done.returncode})", log)


def _binding_key(versions: str) -> str:
    python, pybind = _python_include()
    return _key("binding", BINDING.read_bytes(), *(p.read_bytes() for p in _headers()), " ".join(BINDING_FLAGS),
                python, pybind, sys.version, versions)


def _binding_object(nvcc: str, cache: Path, key: str) -> Path:
    python, pybind = _python_include()
    final = cache / f"binding-{key}.o"
    if not final.exists():
        with tempfile.TemporaryDirectory(dir=cache) as tmp:
            obj = Path(tmp) / "binding.o"
            _compile([nvcc, "-c", str(BINDING), "-o", str(obj), *BINDING_FLAGS, "-I", str(INCLUDE), "-I", python,
                      "-I", pybind], str(BINDING), str(BINDING), "the course's binding (kernels/binding.cpp)")
            _place(obj, final)
    return final


def _course_root(path: Path) -> Path | None:
    return next((p for p in path.resolve().parents if (p / "course.toml").is_file()), None)


def _check_dependencies(deps_file: Path, source: Path, compiled: Path) -> None:
    """A submission is one file: it may include CUDA's, the system's and the course's
    headers (course/...), nothing else of the course. nvcc runs in the grader's own
    process, which can read solutions/; an #include of the reference would otherwise
    compile it into the student's module."""
    text = deps_file.read_text().replace("\\\n", " ")
    deps = [Path(os.path.realpath(d)) for d in text.split(":", 1)[-1].split()]
    fenced = {p for p in (KERNELS.parent, _course_root(source), source.resolve().parent) if p is not None}
    allowed = (INCLUDE.resolve(), compiled.resolve())
    for dep in deps:
        if any(dep == a or a in dep.parents for a in allowed):
            continue
        if any(dep == f or f in dep.parents for f in fenced):
            raise BuildError(f"{source} includes {dep}: a submission is one file, which may include CUDA's "
                             "headers and the course's (course/flash_fwd.h, course/tensor.cuh), nothing else "
                             "of the course")


def _kernel_object(nvcc: str, source: Path, text: bytes, cache: Path, key: str) -> Path:
    final = cache / f"kernel-{key}.o"
    if not final.exists():
        with tempfile.TemporaryDirectory(dir=cache) as tmp:
            # Compile exactly the bytes that were hashed, under the student's file name;
            # messages then name the student's path, not this temporary one.
            copy = Path(tmp) / source.name
            copy.write_bytes(text)
            obj, deps = Path(tmp) / "kernel.o", Path(tmp) / "kernel.d"
            _compile([nvcc, "-c", str(copy), "-o", str(obj), *CUDA_FLAGS, *GENCODE, "--threads", str(len(ARCHS)),
                      "-I", str(INCLUDE), "-MD", "-MF", str(deps)], str(source), str(copy), str(source))
            _check_dependencies(deps, source, copy)
            _place(obj, final)
    return final


# What a kernel file may not call (undefined symbols of its object): another library's
# attention or matrix products, the Python interpreter (torch is one call away from
# there), dynamic loading (a way to either), and new processes. The kernel is the
# student's to write; CUDA's runtime, libc and the C++ library are all it needs.
REFUSED_SYMBOLS = re.compile(r"^(_?Py|dl(open|sym|vsym|mopen)$|cublas|cudnn|cufft|curand|cusparse|cusolver|nccl"
                             r"|_ZN(2at|3c10|5torch|8pybind11)|system$|popen$|fork$|vfork$|exec|posix_spawn|syscall$)")


def _check_symbols(kernel: Path, binding: Path, source: Path) -> None:
    """The binding calls flash_fwd with the signature of course/flash_fwd.h; a file
    that does not define exactly that (a typo, another parameter type) would link
    and then fail at import with an undefined symbol: said here, at build time. And
    the file calls nothing of REFUSED_SYMBOLS."""
    nm = shutil.which("nm")
    if nm is None:
        return  # the import names a missing symbol instead; the refused ones go unchecked
    undefined = set(_run([nm, "--undefined-only", "--format=just-symbols", str(kernel)]).stdout.split())
    refused = sorted(name for name in undefined if REFUSED_SYMBOLS.search(name))
    if refused:
        raise BuildError(f"{source} calls {', '.join(refused[:5])}: a submission may call CUDA's runtime, the C and "
                         "C++ libraries, nothing else (no torch, Python, cuBLAS/cuDNN, dynamic loading or processes)")
    needed = {s for s in _run([nm, "--undefined-only", str(binding)]).stdout.split() if "flash_fwd" in s}
    defined = set(_run([nm, "--defined-only", str(kernel)]).stdout.split())
    if needed - defined:
        raise BuildError(f"{source} does not define flash_fwd with the signature declared in course/flash_fwd.h: "
                         "void flash_fwd(const course::TensorRef& q, const course::TensorRef& k, "
                         "const course::TensorRef& v, const course::TensorRef& out, const course::TensorRef& lse, "
                         "bool causal, float softmax_scale, cudaStream_t stream)")


def _prune(cache: Path) -> None:
    """Keep the KEEP_MODULES most recently used modules (a hit refreshes the time)."""
    modules = sorted(cache.glob("module-*"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in modules[KEEP_MODULES:]:
        shutil.rmtree(old, ignore_errors=True)
        key = old.name.removeprefix("module-")
        (cache / f"kernel-{key.split('-')[0]}.o").unlink(missing_ok=True)


def build(source: str | os.PathLike, text: bytes | None = None) -> Built:
    """Compile ``source`` (a .cu file defining flash_fwd) into course_native.so.

    ``text``: the file's bytes when the caller has read them already (the grader
    builds exactly what it read). Returns the module's path in the cache. Raises
    BuildError with the compiler's messages (file:line as the student's path) when
    something does not compile or nvcc is missing, OSError when ``source`` cannot be
    read.
    """
    started = time.perf_counter()
    source = Path(source)
    text = source.read_bytes() if text is None else text
    nvcc = nvcc_path()
    if nvcc is None:
        raise BuildError(f"nvcc not found (on PATH, in /usr/local/cuda/bin, or ${NVCC_ENV}): {source} cannot be built")
    if re.search(rb"incbin", text, re.IGNORECASE):
        raise BuildError(f"{source} uses .incbin, which pastes another file into the module; a submission is one file")
    cache = cache_dir()
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise BuildError(f"the build cache {cache} cannot be created ({err.strerror}); set ${CACHE_ENV} "
                         "to a writable directory") from None
    if not os.access(cache, os.W_OK):
        raise BuildError(f"the build cache {cache} is not writable; set ${CACHE_ENV} to a writable directory")
    versions = _versions(nvcc)
    kernel_key = _key("kernel", text, *(p.read_bytes() for p in _headers()), " ".join(CUDA_FLAGS + GENCODE), versions)
    binding_key = _binding_key(versions)
    module_dir = cache / f"module-{kernel_key}-{binding_key}"
    module = module_dir / MODULE_FILE
    if module.exists():
        os.utime(module_dir)
        return Built(module, cached=True, seconds=time.perf_counter() - started)
    # Cold: the binding (once per machine) and the kernel compile side by side.
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        binding = pool.submit(_binding_object, nvcc, cache, binding_key)
        kernel = pool.submit(_kernel_object, nvcc, source, text, cache, kernel_key)
        kernel_o, binding_o = kernel.result(), binding.result()
    _check_symbols(kernel_o, binding_o, source)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        linked = Path(tmp) / MODULE_FILE
        done = _run([nvcc, "-shared", str(kernel_o), str(binding_o), "-o", str(linked), *GENCODE])
        if done.returncode != 0:
            raise BuildError(f"linking {source} with the course's binding failed", (done.stdout + done.stderr).strip())
        staged = Path(tmp) / "module"
        staged.mkdir()
        os.replace(linked, staged / MODULE_FILE)
        try:
            os.replace(staged, module_dir)
        except OSError:  # a concurrent build placed the same module first
            if not module.exists():
                raise
    _prune(cache)
    return Built(module, cached=False, seconds=time.perf_counter() - started)
