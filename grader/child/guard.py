"""The child's audit hook (PEP 578): what student code may not do, refused as it tries.

An audit hook cannot be removed once installed, and it sees the interpreter's own
events, so neither a monkeypatch nor another thread gets round it. Installed by the
worker before the student's module is imported, it refuses:

- importing the grader's parent side (``grader.*`` other than ``grader.child`` and
  ``grader.contract``, which are the student-facing helpers), ``solutions`` and the
  course's other packages;
- opening files under the course root other than the submission itself and the few
  grader files the child runs; writing anywhere but the child's private directories;
  reading other processes' ``/proc`` entries;
- starting processes (on a GPU the compiler tools Triton runs are allowed),
  sending signals, network sockets, ``ctypes`` calls, and the garbage
  collector's walks over every object and the inspection of the call stack (ways to
  reach the worker's frames, its socket and its requests).

The hook guards the Python level. Native code (a compiled extension the student
builds and loads) is outside its reach: the OS-level layers (an unprivileged user,
PID namespace, `course grade --sandbox`) cover that; docs/GRADING.md has the threat
model.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from dataclasses import dataclass, field

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_SPAWN_EVENTS = {"os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty", "pty.spawn",
                 "subprocess.Popen"}
_REFUSED_EVENTS = {
    "ctypes.dlopen": "loading a native library through ctypes",
    "ctypes.dlsym": "ctypes",
    "ctypes.call_function": "calling native code through ctypes",
    "gc.get_objects": "walking every object through gc",
    "gc.get_referrers": "walking object references through gc",
    "gc.get_referents": "walking object references through gc",
    "socket.connect": "network connections",
    "socket.bind": "network sockets",
    "socket.sendto": "network sockets",
    "socket.getaddrinfo": "network look-ups",
    "os.setuid": "changing user",
    "os.chown": "changing file ownership",
}
# File-system changes: allowed inside the child's private directories (Triton's cache
# writes a temporary file and renames it into place), refused anywhere else. The
# values: what the student is told, and how many leading arguments are paths.
_PATH_EVENTS = {
    "os.remove": ("deleting files", 1),
    "os.rename": ("renaming files", 2),
    "os.rmdir": ("deleting directories", 1),
    "shutil.rmtree": ("deleting directories", 1),
    "os.mkdir": ("creating directories", 1),
    "os.chmod": ("changing file permissions", 1),
    "os.symlink": ("creating links", 2),
    "os.link": ("creating links", 2),
    "os.truncate": ("truncating files", 1),
    "os.utime": ("changing file times", 1),
}


# Attributes that lead from a traceback, generator or frame to the frames that called
# student code (the worker's, with its socket and requests).
_FRAME_ATTRIBUTES = frozenset({"tb_frame", "f_back", "gi_frame", "cr_frame", "ag_frame", "f_locals", "f_globals"})
_FRAME_EVENTS = frozenset({"sys._getframe", "sys._current_frames"})
_STDLIB = os.path.dirname(os.__file__)


class GuardError(PermissionError):
    """Student code tried something the grader refuses."""


@dataclass
class Policy:
    protected: tuple[str, ...]  # the course root (and the grader's checkout): nothing under them may be opened but `readable`
    student_file: str  # the submission's real path: frames there may not inspect the stack
    readable: tuple[str, ...]  # files or directories under `protected` the child may read
    writable: tuple[str, ...]  # directories the child may write under (its own temp dirs)
    spawnable: frozenset[str] = frozenset()  # executable names the child may start (Triton's compilers)
    allowed_imports: tuple[str, ...] = ("grader.child", "grader.contract")
    refused_imports: tuple[str, ...] = ("grader", "solutions", "exercises", "tests", "kernels")
    active: bool = field(default=False)  # the worker switches it on just before student code

    @classmethod
    def from_message(cls, message: dict) -> "Policy":
        """From the plain lists the parent sends (the wire carries no sets)."""
        return cls(protected=tuple(message["protected"]), student_file=str(message["student_file"]),
                   readable=tuple(message["readable"]),
                   writable=tuple(message["writable"]), spawnable=frozenset(message["spawnable"]))


def _under(path: str, roots) -> bool:
    return any(path == root or path.startswith(root.rstrip("/") + "/") for root in roots)


def _is_write(mode, flags) -> bool:
    if isinstance(mode, str) and any(c in mode for c in "wax+"):
        return True
    return isinstance(flags, int) and bool(flags & _WRITE_FLAGS)


def _other_process(path: str) -> bool:
    parts = path.split("/")
    return len(parts) > 2 and parts[1] == "proc" and parts[2].isdigit() and int(parts[2]) != os.getpid()


class Guard:
    def __init__(self, policy: Policy):
        self.policy = policy
        self.protected = tuple(os.path.realpath(p) for p in policy.protected)
        self.readable = tuple(os.path.realpath(p) for p in policy.readable)
        self.writable = tuple(os.path.realpath(p) for p in policy.writable)
        self._worker_thread = threading.get_ident()
        self._trusted = False  # the worker's own code between student calls (its thread only)
        self._busy = False  # the checks below call os functions that may audit too

    def refuse(self, what: str) -> None:
        raise GuardError(f"the grader does not allow {what} in submitted code")

    @contextlib.contextmanager
    def trusted(self):
        """The worker's own code (formatting a traceback reads frames). Only the
        worker's thread is let through: threads student code started stay guarded.
        Student code cannot reach this object: it lives in the worker's frames,
        which the guard keeps it from inspecting."""
        self._trusted = True
        try:
            yield
        finally:
            self._trusted = False

    def __call__(self, event: str, args: tuple) -> None:
        if not self.policy.active or self._busy:
            return
        if self._trusted and threading.get_ident() == self._worker_thread:
            return
        self._busy = True
        try:
            self._check(event, args)
        finally:
            self._busy = False

    def _check(self, event: str, args: tuple) -> None:
        if event == "import":
            self._check_import(str(args[0]))
        elif event == "open":
            self._check_open(args[0], args[1] if len(args) > 1 else None, args[2] if len(args) > 2 else None)
        elif event in _SPAWN_EVENTS:
            self._check_spawn(event, args)
        elif event in ("os.kill", "os.killpg", "signal.pthread_kill"):
            self.refuse("sending signals")
        elif event in _REFUSED_EVENTS:
            self.refuse(_REFUSED_EVENTS[event])
        elif event in _PATH_EVENTS:
            what, count = _PATH_EVENTS[event]
            paths = [a for a in args[:count] if isinstance(a, (str, bytes, os.PathLike))]
            if any(not _under(os.path.realpath(os.fsdecode(p)), self.writable) for p in paths):
                self.refuse(f"{what} outside the submission's own temporary directory")
        elif event in _FRAME_EVENTS or (event == "object.__getattr__" and args[1] in _FRAME_ATTRIBUTES):
            if self._asked_by_student():
                self.refuse("inspecting the call stack (the grader's frames)")

    def _asked_by_student(self) -> bool:
        """Whether the nearest caller outside the standard library is the student's
        file. Triton and torch read frames for their own purposes (the interpreter
        looks up a kernel's globals); student code may not, not even through
        ``inspect``, which is standard library."""
        frame = sys._getframe(1)
        while frame is not None:
            name = frame.f_code.co_filename
            if name != __file__ and not (name.startswith("<frozen") or name.startswith(_STDLIB)):
                return os.path.realpath(name) == self.policy.student_file
            frame = frame.f_back
        return False

    def _check_import(self, name: str) -> None:
        if any(name == ok or name.startswith(ok + ".") for ok in self.policy.allowed_imports):
            return
        if any(name == bad or name.startswith(bad + ".") for bad in self.policy.refused_imports):
            raise GuardError(f"the grader does not allow importing {name} in submitted code "
                             f"(you may import grader.contract)")

    def _check_open(self, path, mode, flags) -> None:
        if isinstance(path, int):
            return  # an already-open descriptor: its opening was checked
        path = os.fsdecode(path)
        real = os.path.realpath(path)
        if _is_write(mode, flags) and not _under(real, self.writable) and real != os.devnull:
            self.refuse(f"writing to {path}")
        if _under(real, self.protected) and not _under(real, self.readable):
            self.refuse(f"opening {path} (files of the course other than your submission)")
        if _other_process(real):
            self.refuse(f"reading {path} (another process)")

    def _check_spawn(self, event: str, args: tuple) -> None:
        if event in ("subprocess.Popen", "os.posix_spawn") and args:
            program = args[0]
            name = os.path.basename(os.fsdecode(program)) if isinstance(program, (str, bytes, os.PathLike)) else ""
            if name in self.policy.spawnable:
                return
        self.refuse("starting processes")


def install(policy: Policy) -> Guard:
    """Install the hook for the rest of this process; flip ``policy.active`` to arm it."""
    guard = Guard(policy)
    sys.addaudithook(guard)
    return guard
