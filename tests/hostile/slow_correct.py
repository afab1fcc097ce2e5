"""Hostile: a correct softmax that sleeps before every answer (just under a per-call
timeout), to stretch a grade to hours."""

import os
import time

import torch


def safe_softmax(x, block_size=128):
    time.sleep(float(os.environ.get("HOSTILE_SLEEP_S", "59")))
    x32 = x.float()
    e = torch.exp(x32 - x32.amax(dim=-1, keepdim=True))
    return (e / e.sum(dim=-1, keepdim=True)).to(x.dtype)


online_softmax = safe_softmax
