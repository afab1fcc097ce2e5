"""Run student code in a child process that may crash, hang, exit or print.

The parent keeps one `StudentProcess` per exercise. Each call is a message to
the child (`grader.worker`) and a reply within a time limit; if the child dies or
overruns, the call comes back as ``crashed`` or ``timeout`` and the next call
starts a fresh child. A module that cannot even be imported is remembered, so a
broken file costs one import, not one per example.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

from grader.child.recorder import OpReport
from grader.child.worker import decode, encode

MAX_REPLY_BYTES = 1 << 30
OUTPUT_TAIL_CHARS = 1500


@dataclass
class CallResult:
    status: str  # ok | raised | not_implemented | import_error | crashed | timeout
    value: object = None
    devices: list[str] = field(default_factory=list)
    report: OpReport = field(default_factory=OpReport)
    modified: list[int] = field(default_factory=list)  # indices of input tensors changed in place
    error: str = ""
    output: str = ""  # what student code printed during the call (tail)
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)  # op-specific reply fields (timings)

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


class StudentProcess:
    """A lazily (re)started child that imports ``path`` and serves calls."""

    def __init__(self, path: Path, module_name: str, *, env: dict[str, str], root: Path,
                 call_timeout: float, import_timeout: float):
        self.path, self.module_name = Path(path), module_name
        self.env, self.root = env, root
        self.call_timeout, self.import_timeout = call_timeout, import_timeout
        self._proc: subprocess.Popen | None = None
        self._conn: Connection | None = None
        # The child appends to the log through its own descriptor; the parent reads
        # through another, so neither moves the other's file offset.
        fd, self._log_path = tempfile.mkstemp(prefix="course-student-", suffix=".log")
        os.close(fd)
        self._log_reader = open(self._log_path, "rb")
        self._import_failure: CallResult | None = None

    # -- lifecycle

    def _start(self) -> CallResult | None:
        parent_sock, child_sock = socket.socketpair()
        log_writer = open(self._log_path, "ab")
        env = {**os.environ, **self.env}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(self.root), env.get("PYTHONPATH")]))
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "grader.child.worker", str(child_sock.fileno())],
            pass_fds=(child_sock.fileno(),),
            stdin=subprocess.DEVNULL,
            stdout=log_writer,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=self.root,
            start_new_session=True,  # so a kill reaches anything student code spawned
        )
        child_sock.close()
        log_writer.close()
        self._conn = Connection(parent_sock.detach())
        self._conn.send_bytes(encode({"path": str(self.path), "module": self.module_name}))
        reply = self._receive(self.import_timeout, during="import")
        if reply.status == "ready":
            return None
        if reply.status in ("import_error", "crashed", "timeout"):
            reply.status = "import_error" if reply.status == "import_error" else reply.status
            reply.error = f"importing {self.path.name} failed: {reply.error}"
            self._import_failure = reply
        self.close()
        return reply

    def close(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            try:
                os.killpg(self._proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self._proc is not None:
            self._proc.wait()
        if self._conn is not None:
            self._conn.close()
        self._proc = self._conn = None

    # -- calls

    def request(self, message: dict, timeout: float | None = None) -> CallResult:
        if self._import_failure is not None:
            return self._import_failure
        if self._proc is None:
            failure = self._start()
            if failure is not None:
                return failure
        self._new_output()  # discard what was printed before this request
        try:
            self._conn.send_bytes(encode(message))
        except (BrokenPipeError, ConnectionResetError, OSError):
            return self._died()
        return self._receive(self.call_timeout if timeout is None else timeout, during="call")

    def call(self, fn: str, args: tuple, kwargs: dict | None = None, *, device: str = "cpu",
             banned: dict[str, str] | None = None) -> CallResult:
        return self.request({"op": "call", "fn": fn, "args": list(args), "kwargs": kwargs or {},
                             "device": device, "banned": banned or {}})

    def _receive(self, timeout: float, during: str) -> CallResult:
        if not self._conn.poll(timeout):
            self.close()
            return CallResult("timeout", error=f"no answer within {timeout:g} s during the {during}",
                              output=self._new_output())
        try:
            payload = self._conn.recv_bytes(MAX_REPLY_BYTES)
        except (EOFError, OSError):
            return self._died()
        try:
            reply = decode(payload)
            status = reply["status"]
        except Exception as err:  # noqa: BLE001 - a forged or broken reply is the child's fault
            self.close()
            return CallResult("crashed", error=f"the child sent an unreadable reply ({err})")
        return CallResult(
            status=status,
            value=reply.get("value"),
            devices=list(reply.get("devices", [])),
            report=OpReport.from_dict(reply["report"]) if "report" in reply else OpReport(),
            modified=list(reply.get("modified", [])),
            error=str(reply.get("error", "")),
            output=self._new_output(),
            seconds=float(reply.get("seconds", 0.0)),
            extra={k: v for k, v in reply.items() if k.startswith("t_")},
        )

    def _died(self) -> CallResult:
        code = self._proc.wait() if self._proc is not None else None
        output = self._new_output()
        self.close()
        return CallResult("crashed", error=_describe_exit(code), output=output)

    def _new_output(self) -> str:
        text = self._log_reader.read().decode(errors="replace")
        return text[-OUTPUT_TAIL_CHARS:]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        self._log_reader.close()
        os.unlink(self._log_path)
