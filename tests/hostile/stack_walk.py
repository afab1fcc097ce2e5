"""Hostile: walks up the call stack (through inspect, which is standard library) to the
worker's frames, to reach its request and its socket."""

import inspect


def safe_softmax(x, block_size=128):
    for info in inspect.stack():
        members = dict(inspect.getmembers(info.frame))
        if "request" in members.get("f_locals", {}):
            members["f_locals"]["request"]["times"] = 0
    return x


online_softmax = safe_softmax
