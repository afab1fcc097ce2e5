"""The child process that runs student code (``python -m grader.child FD``).

It imports one student module, then answers requests sent by the parent over the
socket FD: run a function on the given inputs under the op recorder and send back
the raw outputs; or repeat a call for timing. It decides nothing: the parent
compares the outputs with the oracle, measures time and memory from outside, and
scores. Its stdout and stderr go to a log file the parent owns, so whatever student
code prints never reaches the grader's own output.

Before the student module is imported the worker arms the guard (an audit hook,
``grader.child.guard``), caps file sizes, and asks to die with its parent.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import sys
import traceback

from grader.child import guard, wire

FILE_SIZE_LIMIT = 64 << 20  # what the child may write to any file, its log included
PR_SET_PDEATHSIG = 1
MS_RDONLY, MS_REMOUNT, MS_BIND, MS_REC = 1, 32, 4096, 16384  # mount(2) flags


def load_module(path, name: str):
    """Import the file at ``path`` as module ``name`` (solutions and submissions are
    files, not packages). A built CUDA exercise (a .so the parent compiled) comes
    wrapped by its Python side, grader/child/native.py."""
    if str(path).endswith(".so"):
        from grader.child import native

        module = sys.modules[name] = native.load(str(path), name)
        return module
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def to_device(t, device):
    """Copy ``t`` to ``device`` keeping its exact strides and storage offset, so a
    transposed or sliced view stays one (``Tensor.to`` may make it contiguous)."""
    import torch

    storage = torch.as_strided(t, (t.untyped_storage().nbytes() // t.element_size(),), (1,), 0)
    copy = storage.to(device)
    return torch.as_strided(copy, t.shape, t.stride(), t.storage_offset())


def _map(value, fn):
    if isinstance(value, (list, tuple)):
        return type(value)(_map(v, fn) for v in value)
    if isinstance(value, dict):
        return {k: _map(v, fn) for k, v in value.items()}
    return fn(value)


def _portable(value, devices: list):
    """Student results as plain data: tensors copied to compact CPU storage (a small
    view of a huge storage must not ship the whole storage), devices noted; numbers
    and strings kept; anything else replaced by a marker naming its type."""
    import torch

    def one(x):
        if isinstance(x, torch.Tensor):
            devices.append(x.device.type)
            return x.detach().to("cpu").clone(memory_format=torch.contiguous_format)
        if x is None or isinstance(x, (bool, int, float, str)):
            return x
        return {"unsupported type": type(x).__name__}

    return _map(value, one)


def student_traceback(err: BaseException, student_file: str) -> str:
    """The error as a student wants it: the root exception first, then the ones it
    caused, each with the frames of the student's own file (and the frame that
    raised, when that is library code)."""
    chain = []
    while err is not None and err not in chain:
        chain.append(err)
        err = err.__cause__ or err.__context__
    lines = []
    for i, exc in enumerate(reversed(chain)):
        if i:
            lines.append("which caused:")
        frames = [f for f in traceback.extract_tb(exc.__traceback__)
                  if not f.filename.startswith(os.path.dirname(__file__))]  # the guard's own raise
        mine = [f for f in frames if os.path.realpath(f.filename) == student_file]
        if frames and frames[-1] not in mine:
            mine.append(frames[-1])
        for f in mine:
            where = os.path.basename(f.filename) if os.path.realpath(f.filename) == student_file else f.filename
            lines.append(f'  File "{where}", line {f.lineno}, in {f.name}')
            if f.line:
                lines.append(f"    {f.line}")
        lines.append("".join(traceback.format_exception_only(type(exc), exc)).rstrip())
    return "\n".join(lines)


_RECORDER: list = []  # (OpRecorder, its methods) as they were before student code loaded


def _keep_recorder_methods() -> None:
    from grader.child.recorder import OpRecorder

    _RECORDER[:] = [OpRecorder, {name: value for name, value in vars(OpRecorder).items() if callable(value)}]


def _pristine_recorder_class():
    """A fresh subclass carrying the recorder's original methods: patching the
    OpRecorder class (a monkeypatch in student code) changes nothing here."""
    base, methods = _RECORDER
    return type("OpRecorder", (base,), dict(methods))


def _snapshot(args, kwargs):
    import torch

    flat = list(args) + list(kwargs.values())
    return [(i, t, t.clone()) for i, t in enumerate(flat) if isinstance(t, torch.Tensor)]


def _modified(snapshot) -> list[int]:
    import torch

    changed = []
    for index, now, before in snapshot:
        same = (now == before) | (torch.isnan(now) & torch.isnan(before)) if now.is_floating_point() else now == before
        if not bool(same.all()):
            changed.append(index)
    return changed


class Worker:
    def __init__(self, module, student_file: str, the_guard: guard.Guard):
        self.module, self.student_file, self.guard = module, student_file, the_guard
        self.kept: dict[str, object] = {}  # inputs made once for repeated timed calls

    def _failure(self, err: BaseException) -> dict:
        if isinstance(err, NotImplementedError):
            return {"status": "not_implemented", "error": str(err)}
        if isinstance(err, SystemExit):
            return {"status": "raised", "error": f"student code called sys.exit({err.code!r})"}
        with self.guard.trusted():
            error = student_traceback(err, self.student_file)
        return {"status": "raised", "error": error}

    def _function(self, name: str):
        fn = getattr(self.module, name, None)
        if not callable(fn):
            raise AttributeError(f"the module defines no function {name!r}")
        return fn

    def call(self, request: dict) -> dict:
        import torch

        device = request["device"]
        move = lambda x: to_device(x, device) if isinstance(x, torch.Tensor) else x  # noqa: E731
        args, kwargs = _map(request["args"], move), _map(request["kwargs"], move)
        snapshot = _snapshot(args, kwargs)
        recorder = _pristine_recorder_class()(request.get("banned"))
        try:
            fn = self._function(request["fn"])
            with recorder:
                value = fn(*args, **kwargs)
            if device != "cpu":
                torch.cuda.synchronize()
        except BaseException as err:  # noqa: BLE001 - any failure of student code is reported, not fatal
            return self._failure(err)
        devices: list[str] = []
        return {"status": "ok", "value": _portable(value, devices), "devices": devices,
                "report": recorder.report.to_dict(), "modified": _modified(snapshot)}

    def prepare(self, request: dict) -> dict:
        """Make timing inputs here from a seed (the parent makes the same ones to check)."""
        from grader.child.measure import bench_inputs

        self.kept["inputs"] = bench_inputs(request["shape"], request["device"], request["seed"])
        return {"status": "ok"}

    def repeat(self, request: dict) -> dict:
        """Call the function ``times`` times on the kept inputs; the parent times the
        request from outside. With ``keep_output`` the last output comes back."""
        import torch

        fill = torch.utils.deterministic.fill_uninitialized_memory
        torch.utils.deterministic.fill_uninitialized_memory = False  # the NaN fill would be timed too
        try:
            fn = self._function(request["fn"])
            inputs = self.kept["inputs"]
            for _ in range(request["times"]):
                value = fn(*inputs, **request["kwargs"])
            torch.cuda.synchronize()
        except BaseException as err:  # noqa: BLE001
            return self._failure(err)
        finally:
            torch.utils.deterministic.fill_uninitialized_memory = fill
        if request.get("keep_output"):
            devices: list[str] = []
            return {"status": "ok", "value": _portable(value, devices), "devices": devices}
        return {"status": "ok"}

    def bench(self, request: dict) -> dict:
        from grader.child.measure import run_bench

        try:
            return {"status": "ok", **{f"t_{k}": v for k, v in run_bench(self.module, request).items()}}
        except BaseException as err:  # noqa: BLE001
            return self._failure(err)


def _die_with_parent() -> None:
    """Ask Linux to kill this process when the grader dies (even by SIGKILL)."""
    if sys.platform.startswith("linux"):
        import ctypes

        parent = os.getppid()
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the grader died before we asked
            os._exit(1)


def _make_read_only(paths: list[str], keep_writable: str) -> None:
    """Bind-mount each path read-only over itself: in the child's own mount namespace
    (unshare), the course and the grader's checkout become read-only to every write,
    native code's included. Best effort: the guard refuses the same writes anyway."""
    if not paths or not sys.platform.startswith("linux"):
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for path in paths:
        if keep_writable == path or keep_writable.startswith(path.rstrip("/") + "/"):
            continue
        target = os.fsencode(path)
        if libc.mount(target, target, None, MS_BIND | MS_REC, None) == 0:
            libc.mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY, None)


def _set_limits(limits: dict) -> None:
    """Kernel-enforced limits: file size always; address space and CPU seconds where
    the parent asks (student code cannot raise a hard limit)."""
    import resource

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails instead of killing us
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, FILE_SIZE_LIMIT))
    if limits.get("address_space"):
        resource.setrlimit(resource.RLIMIT_AS, (limits["address_space"], limits["address_space"]))
    if limits.get("cpu_seconds"):
        resource.setrlimit(resource.RLIMIT_CPU, (limits["cpu_seconds"], limits["cpu_seconds"]))


def main(fd: int) -> None:
    sock = socket.socket(fileno=fd)
    init = wire.decode(wire.read_frame(sock))
    _die_with_parent()
    _set_limits(init.get("limits", {}))
    policy = guard.Policy.from_message(init["policy"])
    _make_read_only(init.get("read_only", []), os.path.realpath(policy.writable[0]))
    the_guard = guard.install(policy)
    import torch

    # Uninitialised memory (torch.empty & co.) is filled with NaN, so an output
    # element the student never wrote cannot pass by luck.
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.utils.deterministic.fill_uninitialized_memory = True
    import grader.child.measure  # noqa: F401 - loaded before the guard arms: it imports triton lazily
    _keep_recorder_methods()
    student_file = os.path.realpath(init["path"])
    sys.stdout.flush()
    policy.active = True
    try:
        module = load_module(init["path"], init["module"])
    except BaseException as err:  # noqa: BLE001
        with the_guard.trusted():
            error = student_traceback(err, student_file)
        wire.send_frame(sock, wire.encode({"status": "import_error", "error": error}))
        return
    worker = Worker(module, student_file, the_guard)
    wire.send_frame(sock, wire.encode({"status": "ready"}))
    handlers = {"call": worker.call, "prepare": worker.prepare, "repeat": worker.repeat, "bench": worker.bench}
    while True:
        try:
            request = wire.decode(wire.read_frame(sock))
        except wire.FrameError:
            return
        reply = handlers[request["op"]](request)
        reply["id"] = request["id"]  # a reply written ahead of its request cannot know this
        sys.stdout.flush()
        sys.stderr.flush()
        wire.send_frame(sock, wire.encode(reply))
