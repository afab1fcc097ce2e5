"""The child process that runs student code (``python -m grader.child.worker FD``).

It imports one student module, then answers calls sent by the parent over the
socket FD: run a function on the given inputs under the op recorder, and send
back the raw outputs. It decides nothing: the parent compares the outputs with
the oracle and scores them. Its stdout and stderr go to a log file the parent
owns, so whatever student code prints never reaches the grader's own output.

Messages both ways are ``torch.save`` payloads read with ``weights_only=True``:
plain containers, numbers, strings and tensors, nothing executable.
"""

from __future__ import annotations

import importlib.util
import io
import os
import sys
import time
import traceback
from multiprocessing.connection import Connection


def encode(message) -> bytes:
    import torch

    buf = io.BytesIO()
    torch.save(message, buf)
    return buf.getvalue()


def decode(payload: bytes):
    import torch

    return torch.load(io.BytesIO(payload), weights_only=True)


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
    """Student results as plain data: tensors to the CPU (devices noted), others kept
    if they are numbers or strings, else replaced by a marker naming their type."""
    import torch

    def one(x):
        if isinstance(x, torch.Tensor):
            devices.append(x.device.type)
            return x.detach().cpu()
        if x is None or isinstance(x, (bool, int, float, str)):
            return x
        return {"unsupported type": type(x).__name__}

    return _map(value, one)


def load_module(path, name: str):
    """Import the file at ``path`` as module ``name`` (solutions and submissions are
    files, not packages)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


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


def _call(module, request: dict) -> dict:
    import torch

    from grader.child.recorder import OpRecorder

    fn = getattr(module, request["fn"], None)
    if fn is None:
        return {"status": "raised", "error": f"the module defines no function {request['fn']!r}"}
    device = request["device"]
    args = _map(request["args"], lambda x: to_device(x, device) if isinstance(x, torch.Tensor) else x)
    kwargs = _map(request["kwargs"], lambda x: to_device(x, device) if isinstance(x, torch.Tensor) else x)
    snapshot = _snapshot(args, kwargs)
    recorder = OpRecorder(request.get("banned"))
    start = time.perf_counter()
    try:
        with recorder:
            value = fn(*args, **kwargs)
        if device != "cpu":
            torch.cuda.synchronize()
    except NotImplementedError as err:
        return {"status": "not_implemented", "error": str(err)}
    except SystemExit as err:
        return {"status": "raised", "error": f"student code called sys.exit({err.code!r})"}
    except BaseException:  # noqa: BLE001 - any failure of student code is reported, not fatal
        return {"status": "raised", "error": traceback.format_exc(limit=-6)}
    seconds = time.perf_counter() - start
    devices: list[str] = []
    return {
        "status": "ok",
        "value": _portable(value, devices),
        "devices": devices,
        "report": recorder.report.to_dict(),
        "modified": _modified(snapshot),
        "seconds": seconds,
    }


def _measure(run) -> dict:
    """Run a measurement of student code; its results travel as ``t_*`` fields."""
    try:
        return {"status": "ok", **{f"t_{key}": value for key, value in run().items()}}
    except NotImplementedError as err:
        return {"status": "not_implemented", "error": str(err)}
    except BaseException:  # noqa: BLE001 - any failure of student code is reported, not fatal
        return {"status": "raised", "error": traceback.format_exc(limit=-6)}


def _time(module, request: dict) -> dict:
    from grader.child.measure import time_interleaved

    return _measure(lambda: time_interleaved(module, load_module(request["reference_path"], "course_reference"),
                                             request))


def _bench(module, request: dict) -> dict:
    from grader.child.measure import run_bench

    return _measure(lambda: run_bench(module, request))


def main(fd: int) -> None:
    conn = Connection(fd)
    init = decode(conn.recv_bytes())
    import torch

    # Uninitialised memory (torch.empty & co.) is filled with NaN, so an output
    # element the student never wrote cannot pass by luck.
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.utils.deterministic.fill_uninitialized_memory = True
    try:
        module = load_module(init["path"], init["module"])
    except BaseException:  # noqa: BLE001
        conn.send_bytes(encode({"status": "import_error", "error": traceback.format_exc(limit=-6)}))
        return
    conn.send_bytes(encode({"status": "ready"}))
    handlers = {"call": _call, "time": _time, "bench": _bench}
    while True:
        try:
            request = decode(conn.recv_bytes())
        except EOFError:
            return
        reply = handlers[request["op"]](module, request)
        sys.stdout.flush()
        sys.stderr.flush()
        conn.send_bytes(encode(reply))


if __name__ == "__main__":
    main(int(sys.argv[1]))
    os._exit(0)  # skip interpreter teardown: student threads or atexit hooks must not hang us
