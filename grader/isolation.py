"""Run student code in a child process that may crash, hang, exit, print or attack.

The parent keeps one `StudentProcess` per exercise. Each call is a framed message
to the child (`grader.child`) and a framed reply read under a deadline; if the
child dies, overruns, or breaks the protocol (a bogus length, half a frame, an
oversized reply), the call comes back as ``crashed`` or ``timeout``, the child is
killed with everything it started, and the next call starts a fresh child. A module
that cannot even be imported is remembered, so a broken file costs one import.

Layers, outermost first (docs/GRADING.md, "Threat model"):
- ``--sandbox``: bubblewrap, where installed: the file system read-only,
  solutions/ and the grader's parent side not mounted, no network, own PID space;
- otherwise, where Linux allows: ``setpriv`` (die with the grader; an unprivileged
  user when the grader runs as root) and ``unshare`` (own user, mount and PID
  namespaces with a private /proc: the parent's processes are invisible, and killing
  the child's first process kills everything it started);
- always: the guard (an audit hook armed before the student module loads), a file
  size limit, a private working directory, the parent's deadlines and size caps.

Memory is measured from outside: the parent resets the child's peak RSS through
``/proc/PID/clear_refs`` before a call and reads ``VmHWM`` after it.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import importlib.util
import os
import pwd
import secrets
import shutil
import signal
import site
import socket
import stat
import subprocess
import sys
import sysconfig
import tempfile
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path

import grader
from grader.child import wire
from grader.child.recorder import OpReport

MAX_REPLY_BYTES = 512 << 20  # the largest legitimate reply: one timed output (64 MiB) with room
OUTPUT_TAIL_BYTES = 1500  # what a report shows of student output
TOOL_OUTPUT_BYTES = 8000  # what a tool run (StudentProcess.run_tool) keeps of its output, at each end
STATUSES = ("ok", "ready", "raised", "not_implemented", "import_error")
UNPRIVILEGED_USER = "nobody"
# Programs Triton runs while compiling a kernel on a GPU (its launcher, ptxas, ldconfig).
NATIVE_MODULE = "course_native.so"  # a built .cu exercise, as the child loads it (grader/child/native.py)
GPU_TOOLCHAIN = frozenset({"ptxas", "cc", "gcc", "clang", "ldconfig", "ldconfig.real", "cuobjdump", "nvdisasm"})


@dataclass
class CallResult:
    status: str  # ok | raised | not_implemented | import_error | crashed | timeout
    value: object = None
    devices: list[str] = field(default_factory=list)
    report: OpReport = field(default_factory=OpReport)
    modified: list[int] = field(default_factory=list)  # indices of input tensors changed in place
    error: str = ""
    output: str = ""  # what student code printed during the call (tail)
    seconds: float = 0.0  # wall time of the request, measured by the parent
    peak_bytes: int | None = None  # peak RSS growth during the call, measured from outside (Linux)
    extra: dict = field(default_factory=dict)  # op-specific reply fields

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "the process stopped answering"
    if code < 0:
        try:
            return f"the process was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"the process was killed by signal {-code}"
    return f"the process exited with status {code}"


@functools.cache
def _unshare_works() -> bool:
    """Whether this machine lets us give the child its own user, mount and PID
    namespaces (Linux with unprivileged user namespaces)."""
    if shutil.which("unshare") is None:
        return False
    try:
        done = subprocess.run(_launcher_prefix(namespaces=True) + ["true"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _others_can_reach(path: str) -> bool:
    """Whether a user with no rights of its own can read ``path`` (and search every
    directory above it)."""
    target = Path(path).resolve()
    for place in (target, *target.parents):
        try:
            mode = place.stat().st_mode
        except OSError:
            return False
        if not mode & (stat.S_IXOTH if place.is_dir() else stat.S_IROTH):
            return False
    return True


@functools.cache
def _unprivileged_ids() -> tuple[int, int] | None:
    """(uid, gid) to drop to when the grader runs as root and an unprivileged user
    can still run Python, torch and the grader's child package from where they are."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        return None
    try:
        entry = pwd.getpwnam(UNPRIVILEGED_USER)
    except KeyError:
        return None
    needed = [os.path.realpath(sys.executable), str(_child_package() / "grader" / "child")]
    for package in ("torch", "triton"):
        spec = importlib.util.find_spec(package)
        if spec is not None and spec.origin:
            needed.append(spec.origin)
    return (entry.pw_uid, entry.pw_gid) if all(map(_others_can_reach, needed)) else None


@functools.cache
def _child_package() -> Path:
    """A directory holding only what the child imports of the grader (grader/__init__.py,
    grader/contract.py, grader/child/), copied once per grading run. It is the child's
    whole import path beside Python's own, so the course root (solutions/, the grader's
    parent side, tests/) is not importable there, whatever the guard allows."""
    base = Path(tempfile.mkdtemp(prefix="course-child-package-"))
    atexit.register(shutil.rmtree, base, ignore_errors=True)
    package = Path(grader.__file__).resolve().parent
    shutil.copytree(package / "child", base / "grader" / "child", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("__init__.py", "contract.py"):
        shutil.copyfile(package / name, base / "grader" / name)
    for place in (base, *base.rglob("*")):  # readable, never writable, by a child running as nobody
        place.chmod(0o755 if place.is_dir() else 0o644)
    return base


def _launcher_prefix(namespaces: bool) -> list[str]:
    prefix = []
    if shutil.which("setpriv"):
        prefix = ["setpriv", "--pdeathsig", "KILL"]
        ids = _unprivileged_ids()
        if ids is not None:
            prefix += ["--reuid", str(ids[0]), "--regid", str(ids[1]), "--clear-groups"]
    if namespaces:
        prefix += ["unshare", "--user", "--map-root-user", "--mount", "--pid", "--fork", "--kill-child",
                   "--mount-proc"]
    return prefix


def _library_dirs() -> list[str]:
    """Where Python and its installed packages live: the child reads them even when
    they sit under a protected directory (a .venv inside the checkout)."""
    paths = sysconfig.get_paths()
    dirs = {sys.prefix, sys.base_prefix, *site.getsitepackages(),
            *(paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib"))}
    return sorted(os.path.realpath(d) for d in dirs if os.path.isdir(d))


@functools.cache
def sandbox_available() -> bool:
    """Whether bubblewrap is installed and can make a sandbox here (a container may
    forbid the namespaces it needs)."""
    if shutil.which("bwrap") is None:
        return False
    probe = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-all", "--die-with-parent",
             "true"]
    try:
        return subprocess.run(probe, capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def isolation_layers() -> list[str]:
    """The OS layers a student process gets here, in words (for `course doctor`)."""
    layers = ["the audit-hook guard", "deadlines and size caps", "a file size limit"]
    if shutil.which("setpriv"):
        layers.append("death with the grader (setpriv)")
    if _unprivileged_ids() is not None:
        layers.append(f"user {UNPRIVILEGED_USER}")
    if _unshare_works():
        layers.append("own user, mount and PID namespaces (unshare)")
    return layers


def _bubblewrap(root: Path, private: str, readable: list[str]) -> list[str]:
    """bwrap arguments: everything read-only, /tmp and the course hidden but for what
    the child needs (Python and its packages, wherever they live; the grader's child
    package; its private directory, writable), no network, own PID space."""
    package = Path(grader.__file__).resolve().parent
    # Hidden: /tmp, the course root and, where the grader runs from a checkout, that
    # checkout (solutions/ beside it); Python's own directories are bound back, and an
    # installed grader's package is hidden last (its site-packages may have been bound).
    checkout = (package.parent / "course.toml").is_file()
    hidden = ["/tmp", str(root)] + ([str(package.parent)] if checkout and package.parent != root else [])
    argv = ["bwrap", "--ro-bind", "/", "/", "--dev-bind", "/dev", "/dev", "--proc", "/proc"]
    for place in hidden:
        argv += ["--tmpfs", place]
    for library in _library_dirs():  # a virtualenv under /tmp or inside the checkout
        if any(library == h or library.startswith(h + "/") for h in hidden):
            argv += ["--ro-bind", library, library]
    if not checkout:
        argv += ["--tmpfs", str(package)]
    for path in [str(_child_package()), *readable]:
        argv += ["--ro-bind", path, path]
    argv += ["--bind", private, private, "--unshare-all", "--die-with-parent", "--new-session", "--chdir", private]
    return argv


def _head_and_tail(log, keep: int) -> str:
    """The first and last ``keep`` bytes of the open file ``log`` (a report's summary is
    at its end, its first error at its start)."""
    size = log.seek(0, os.SEEK_END)
    log.seek(0)
    if size <= 2 * keep:
        return log.read().decode(errors="replace")
    head = log.read(keep)
    log.seek(size - keep)
    return (head + b"\n[... %d bytes left out ...]\n" % (size - 2 * keep) + log.read()).decode(errors="replace")


_LIVE: "weakref.WeakSet[StudentProcess]" = weakref.WeakSet()


def terminate_all() -> None:
    """Kill every student process of this grader and remove its files (SIGTERM)."""
    for student in list(_LIVE):
        student.__exit__(None, None, None)


class StudentProcess:
    """A lazily (re)started child that imports ``path`` and serves requests."""

    def __init__(self, path: Path, module_name: str, *, env: dict[str, str], root: Path,
                 call_timeout: float, import_timeout: float, device: str = "cpu",
                 readable: tuple[Path, ...] = (), sandbox: bool = False,
                 memory_limit_gib: float | None = None, cpu_limit_s: float | None = None,
                 source: bytes | None = None):
        self.path, self.module_name = Path(path), module_name
        self.source = source  # what the child imports, when the caller has read (and vetted) the file already
        self.env, self.root = env, Path(root).resolve()
        self.call_timeout, self.import_timeout = call_timeout, import_timeout
        self.device, self.readable, self.sandbox = device, tuple(readable), sandbox
        # Kernel-enforced limits on the child: address space on the CPU only (CUDA reserves
        # far more address space than it uses), CPU seconds as a backstop to the deadlines.
        self.limits = {"address_space": int(memory_limit_gib * 2**30) if memory_limit_gib and device == "cpu" else None,
                       "cpu_seconds": int(cpu_limit_s * (os.cpu_count() or 1)) if cpu_limit_s else None}
        self.deadline: float | None = None  # time.monotonic() when the exercise's budget runs out
        self._proc: subprocess.Popen | None = None
        self._sock: socket.socket | None = None
        self._worker_pid: int | None = None  # the worker's pid as the parent sees it
        self._private = tempfile.mkdtemp(prefix="course-child-")
        ids = _unprivileged_ids() if not sandbox else None
        if ids is not None:
            os.chown(self._private, *ids)
        # The child appends to the log through its own descriptor; the parent reads
        # only the tail of what is new, so a flood costs the child its file size limit.
        fd, self._log_path = tempfile.mkstemp(prefix="course-student-", suffix=".log")
        os.close(fd)
        self._log_reader = open(self._log_path, "rb")
        self._import_failure: CallResult | None = None
        _LIVE.add(self)

    # -- lifecycle

    def _policy(self, submission: Path) -> dict:
        package = Path(grader.__file__).resolve().parent
        protected = [str(self.root)]
        if (package.parent / "course.toml").is_file():  # the grader runs from a checkout, solutions/ beside it
            protected.append(str(package.parent))
        readable = [str(submission), str(_child_package()), *_library_dirs(), *(str(p) for p in self.readable)]
        return {"protected": protected, "student_file": os.path.realpath(submission), "readable": readable,
                "writable": [self._private], "spawnable": sorted(GPU_TOOLCHAIN) if self.device == "cuda" else []}

    def _argv(self, fd: int) -> list[str]:
        # -P: the working directory (the child's private, writable one) is not on the import path
        command = [sys.executable, "-P", "-m", "grader.child", str(fd)]
        if self.sandbox:
            return _bubblewrap(self.root, self._private, list(map(str, self.readable))) + command
        return _launcher_prefix(namespaces=_unshare_works()) + command

    def _submission_copy(self) -> Path:
        """The child imports a copy in its private directory: it needs no view of the
        directory the submission came from. A CUDA file (Level 3) is built here, in the
        parent, by nvcc (the child may neither start compilers nor read the course): the
        child gets a copy of the built module (kernels.builder raises BuildError)."""
        native = self.path.suffix == ".cu"
        copy = Path(self._private) / "submission" / (NATIVE_MODULE if native else self.path.name)
        if not copy.exists():
            copy.parent.mkdir(exist_ok=True)
            if native:
                from kernels.builder import build

                shutil.copyfile(build(self.path, self.source).path, copy)
            elif self.source is None:
                shutil.copyfile(self.path, copy)
            else:
                copy.write_bytes(self.source)
            ids = _unprivileged_ids()
            if ids is not None and not self.sandbox:
                os.chown(copy.parent, *ids)
                os.chown(copy, *ids)
        return copy

    def _start(self) -> CallResult | None:
        try:
            submission = self._submission_copy()
        except OSError as err:
            self._import_failure = CallResult("import_error", error=f"cannot read {self.path}: {err.strerror}")
            return self._import_failure
        except RuntimeError as err:  # kernels.builder.BuildError: the compiler's messages, file:line
            self._import_failure = CallResult("import_error", error=f"building {self.path.name} failed:\n{err}")
            return self._import_failure
        parent_sock, child_sock = socket.socketpair()
        log_writer = open(self._log_path, "ab")
        env = {**os.environ, **self.env, "PYTHONPATH": str(_child_package()), "PYTHONDONTWRITEBYTECODE": "1",
               "HOME": self._private, "TMPDIR": self._private, "TRITON_CACHE_DIR": os.path.join(self._private, "triton")}
        try:
            self._proc = subprocess.Popen(
                self._argv(child_sock.fileno()), pass_fds=(child_sock.fileno(),), stdin=subprocess.DEVNULL,
                stdout=log_writer, stderr=subprocess.STDOUT, env=env, cwd=self._private,
                start_new_session=True,  # so a kill reaches the whole group
            )
        finally:
            child_sock.close()
            log_writer.close()
        self._sock = parent_sock
        policy = self._policy(submission)
        # In its own mount namespace the child makes the course read-only for itself.
        read_only = [*policy["protected"], str(_child_package())] if not self.sandbox and _unshare_works() else []
        wire.send_frame(self._sock, wire.encode({"path": str(submission), "module": self.module_name,
                                                 "policy": policy, "limits": self.limits,
                                                 "read_only": read_only}))
        reply = self._receive(self._timeout(self.import_timeout), during="import")
        if reply.status == "ready":
            self._worker_pid = self._find_worker()
            return None
        if reply.status in ("import_error", "crashed", "timeout", "raised"):
            reply.status = "import_error" if reply.status in ("import_error", "raised") else reply.status
            reply.error = f"importing {self.path.name} failed:\n{reply.error}"
            if reply.status != "timeout" or self.deadline is None or time.monotonic() < self.deadline:
                self._import_failure = reply
        self.close()
        return reply

    def run_tool(self, watcher: list[str], module: str, timeout: float,
                 env: dict[str, str] | None = None) -> tuple[int | None, str]:
        """Run ``python -P -m MODULE SUBMISSION`` once (the built submission, as the child
        gets it) under ``watcher``, a program that observes it from outside (Level 3:
        compute-sanitizer), inside this child's isolation: the same sandbox or launcher,
        private directory (MODULE caps its own file sizes, as the worker does). Returns the exit status of the watcher (None
        after ``timeout``) and the head and tail of everything printed."""
        submission = self._submission_copy()  # RuntimeError: the build failed
        command = watcher + [sys.executable, "-P", "-m", module, str(submission)]
        prefix = (_bubblewrap(self.root, self._private, list(map(str, self.readable))) if self.sandbox
                  else _launcher_prefix(namespaces=_unshare_works()))
        env = {**os.environ, **self.env, **(env or {}), "PYTHONPATH": str(_child_package()),
               "PYTHONDONTWRITEBYTECODE": "1", "HOME": self._private, "TMPDIR": self._private}
        with tempfile.TemporaryFile() as log:
            proc = subprocess.Popen(prefix + command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    env=env, cwd=self._private, start_new_session=True)
            try:
                code = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                code = None
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)  # whatever it left behind
            proc.wait()
            return code, _head_and_tail(log, TOOL_OUTPUT_BYTES)

    def _find_worker(self) -> int | None:
        """The worker's pid: the launched process, or its child when unshare forked."""
        pid = self._proc.pid
        for _ in range(3):  # setpriv and unshare exec in place; unshare --fork adds one level
            try:
                exe = os.readlink(f"/proc/{pid}/exe")
                children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            except OSError:
                return None
            if os.path.basename(exe).startswith("python"):
                return pid
            if not children:
                return None
            pid = int(children[0])
        return None

    def close(self) -> None:
        if self._proc is not None:
            try:
                os.killpg(self._proc.pid, signal.SIGKILL)  # the group: launcher, worker, what it started
            except (ProcessLookupError, PermissionError):
                pass
            try:
                self._proc.kill()
                self._proc.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        if self._sock is not None:
            self._sock.close()
        self._proc = self._sock = self._worker_pid = None

    # -- requests

    def _timeout(self, limit: float) -> float:
        if self.deadline is None:
            return limit
        return max(0.0, min(limit, self.deadline - time.monotonic()))

    def budget_spent(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def request(self, message: dict, timeout: float | None = None, *, measure_memory: bool = False) -> CallResult:
        if self._import_failure is not None:
            return self._import_failure
        if self.budget_spent():
            return CallResult("timeout", error="the exercise's time budget ran out")
        if self._proc is None:
            failure = self._start()
            if failure is not None:
                return failure
        self._new_output()  # discard what was printed before this request
        baseline = self._reset_peak() if measure_memory else None
        started = time.monotonic()
        request_id = secrets.randbits(63)
        try:
            wire.send_frame(self._sock, wire.encode({**message, "id": request_id}))
        except OSError:
            return self._died()
        result = self._receive(self._timeout(self.call_timeout if timeout is None else timeout), during="call",
                               request_id=request_id)
        result.seconds = time.monotonic() - started
        if baseline is not None and result.ok:
            peak = self._status_kib("VmHWM")
            result.peak_bytes = None if peak is None else max(0, peak - baseline) * 1024
        return result

    def call(self, fn: str, args: tuple, kwargs: dict | None = None, *, device: str = "cpu",
             banned: dict[str, str] | None = None, measure_memory: bool = False) -> CallResult:
        return self.request({"op": "call", "fn": fn, "args": list(args), "kwargs": kwargs or {},
                             "device": device, "banned": banned or {}}, measure_memory=measure_memory)

    def _receive(self, timeout: float, during: str, request_id: int | None = None) -> CallResult:
        try:
            payload = wire.read_frame(self._sock, deadline=time.monotonic() + timeout, max_bytes=MAX_REPLY_BYTES)
        except wire.FrameError as err:
            if "deadline" in str(err):
                output = self._new_output()
                self.close()
                budget = " (the exercise's time budget ran out)" if self.budget_spent() else ""
                return CallResult("timeout", error=f"no answer within {timeout:g} s during the {during}{budget}",
                                  output=output)
            if "closed" in str(err):
                return self._died()
            self.close()
            return CallResult("crashed", error=f"the child broke the protocol: {err}")
        except OSError:
            return self._died()
        try:
            return self._validated(wire.decode(payload), request_id)
        except Exception as err:  # noqa: BLE001 - a forged or broken reply is the child's fault
            self.close()
            return CallResult("crashed", error=f"the child sent an unreadable reply ({type(err).__name__}: {err})")

    def _validated(self, reply, request_id: int | None) -> CallResult:
        if not isinstance(reply, dict) or reply.get("status") not in STATUSES:
            raise ValueError("not a reply")
        if request_id is not None and reply.get("id") != request_id:
            raise ValueError("a reply to another request")
        devices = reply.get("devices", [])
        modified = reply.get("modified", [])
        if not (isinstance(devices, list) and all(isinstance(d, str) for d in devices)
                and isinstance(modified, list) and all(type(i) is int for i in modified)):
            raise ValueError("malformed fields")
        return CallResult(
            status=reply["status"],
            value=reply.get("value"),
            devices=devices,
            report=OpReport.from_dict(reply["report"]) if "report" in reply else OpReport(),
            modified=modified,
            error=str(reply.get("error", "")),
            output=self._new_output(),
            extra={k: v for k, v in reply.items() if k.startswith("t_")},
        )

    def _died(self) -> CallResult:
        code = None
        if self._proc is not None:
            try:
                code = self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        output = self._new_output()
        self.close()
        return CallResult("crashed", error=_describe_exit(code), output=output)

    # -- outside measurements

    def _status_kib(self, key: str) -> int | None:
        try:
            for line in Path(f"/proc/{self._worker_pid}/status").read_text().splitlines():
                if line.startswith(key + ":"):
                    return int(line.split()[1])
        except (OSError, ValueError, TypeError):
            return None
        return None

    def _reset_peak(self) -> int | None:
        """Reset the worker's peak RSS to its current RSS; returns that RSS (KiB)."""
        if self._worker_pid is None:
            return None
        try:
            Path(f"/proc/{self._worker_pid}/clear_refs").write_text("5")
        except OSError:
            return None
        return self._status_kib("VmRSS")

    def _new_output(self) -> str:
        reader = self._log_reader
        end = os.fstat(reader.fileno()).st_size
        if end - reader.tell() > OUTPUT_TAIL_BYTES:
            reader.seek(end - OUTPUT_TAIL_BYTES)
        return reader.read(max(0, end - reader.tell())).decode(errors="replace")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _LIVE.discard(self)
        self.close()
        self._log_reader.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._log_path)
        shutil.rmtree(self._private, ignore_errors=True)
