"""Hostile: switches the op recorder off by patching the grader's class, then calls the
banned torch.softmax."""

import torch

from grader.child import recorder


def safe_softmax(x, block_size=128):
    recorder.OpRecorder.__torch_dispatch__ = lambda self, func, types, args=(), kwargs=None: func(*args, **(kwargs or {}))
    return torch.softmax(x.float(), dim=-1).to(x.dtype)


online_softmax = safe_softmax
