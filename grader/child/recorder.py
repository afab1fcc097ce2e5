"""Structural rules, checked by watching every torch op while student code runs.

One mechanism serves every rule: a TorchDispatchMode sees each aten op after
autograd decomposition (so `torch.softmax`, `F.softmax` and `x.softmax` all arrive
as `aten._softmax`) and records

- which banned ops were called (Level 1: no softmax family, no SDPA);
- the largest tensor any non-view op produced (Level 2: never an Nq x Nk matrix);
- the widest reduction: how many elements fed one output element of a sum, max,
  matmul contraction, scan or sort (Level 1: online softmax sees at most
  `block_size` elements of a row at once);
- how many matrix products ran (Level 2: causal v2 skips fully masked blocks).

Watching ops, not grepping source, means a renamed import or a helper module
cannot hide a banned call, and a comment mentioning softmax is not a violation.
Work done outside torch (numpy, Triton kernels) is not seen; the rules are stated
for torch code.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch.utils._python_dispatch import TorchDispatchMode

# aten op packet name -> what the student wrote, for messages.
SOFTMAX_FAMILY = {
    "_softmax": "torch.softmax / F.softmax",
    "_log_softmax": "torch.log_softmax / F.log_softmax",
    "logsumexp": "torch.logsumexp",
    "_safe_softmax": "torch.softmax",
}
SDPA = {
    name: "F.scaled_dot_product_attention"
    for name in (
        "_scaled_dot_product_attention_math",
        "_scaled_dot_product_flash_attention",
        "_scaled_dot_product_flash_attention_for_cpu",
        "_scaled_dot_product_efficient_attention",
        "_scaled_dot_product_cudnn_attention",
        "_scaled_dot_product_fused_attention_overrideable",
        "_flash_attention_forward",
        "_efficient_attention_forward",
    )
}

# Reductions whose width is numel(input) / numel(output).
_REDUCTIONS = {
    "sum", "nansum", "mean", "nanmean", "prod", "amax", "amin", "aminmax", "max", "min",
    "argmax", "argmin", "logsumexp", "norm", "linalg_vector_norm", "var", "std",
    "var_mean", "std_mean", "all", "any", "median", "nanmedian", "mode", "count_nonzero",
}
# Ops whose width is the length of the dim they scan (argument 1).
_ALONG_DIM = {"cumsum", "cumprod", "logcumsumexp", "cummax", "cummin", "_softmax", "_log_softmax",
              "sort", "topk", "kthvalue"}
# Contractions: width is the contracted length.
_CONTRACTIONS = {"mm": (0, -1), "bmm": (0, -1), "addmm": (1, -1), "baddbmm": (1, -1),
                 "addbmm": (1, -1), "mv": (0, -1), "dot": (0, -1), "vdot": (0, -1),
                 "addmv": (1, -1)}


@dataclass
class OpReport:
    """What one call did; sent from the child to the parent."""

    banned: dict[str, str] = field(default_factory=dict)  # aten op -> what the student wrote
    largest_numel: int = 0
    largest_op: str = ""
    largest_shape: tuple[int, ...] = ()
    widest_reduction: int = 0
    widest_op: str = ""
    contractions: int = 0

    def to_dict(self) -> dict:
        return {
            "banned": dict(self.banned),
            "largest_numel": self.largest_numel,
            "largest_op": self.largest_op,
            "largest_shape": list(self.largest_shape),
            "widest_reduction": self.widest_reduction,
            "widest_op": self.widest_op,
            "contractions": self.contractions,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "OpReport":
        return cls(
            banned={str(k): str(v) for k, v in d["banned"].items()},
            largest_numel=int(d["largest_numel"]),
            largest_op=str(d["largest_op"]),
            largest_shape=tuple(int(x) for x in d["largest_shape"]),
            widest_reduction=int(d["widest_reduction"]),
            widest_op=str(d["widest_op"]),
            contractions=int(d["contractions"]),
        )


def _first_tensor(out):
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (tuple, list)):
        return next((t for t in out if isinstance(t, torch.Tensor)), None)
    return None


def reduction_width(name: str, args: tuple, out) -> int:
    """Elements of the input that feed one output element, 0 if not a reduction."""
    if name in _CONTRACTIONS:
        index, dim = _CONTRACTIONS[name]
        return int(args[index].shape[dim]) if args[index].dim() else 1
    src = args[0] if args and isinstance(args[0], torch.Tensor) else None
    if src is None:
        return 0
    if name in ("max", "min") and len(args) > 1 and isinstance(args[1], torch.Tensor):
        return 0  # torch.max(a, b): elementwise, not a reduction
    if name in _ALONG_DIM:
        dim = args[1] if len(args) > 1 and isinstance(args[1], int) else -1
        return int(src.shape[dim]) if src.dim() else 1
    if name in _REDUCTIONS:
        res = _first_tensor(out)
        return src.numel() // max(res.numel(), 1) if res is not None else src.numel()
    return 0


class OpRecorder(TorchDispatchMode):
    """Records an OpReport for everything torch does inside the ``with`` block."""

    def __init__(self, banned: dict[str, str] | None = None, inputs=(), student_file: str | None = None):
        super().__init__()
        self.banned = banned or {}
        self.inputs = list(inputs)  # the tensors the student's function was given
        self.student_file = student_file  # the submission's real path
        self.report = OpReport()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        name = func.overloadpacket.__name__
        report = self.report
        if name in self.banned:
            report.banned[name] = self.banned[name]
        if not func.is_view:
            res = _first_tensor(out)
            if res is not None and res.numel() > report.largest_numel:
                report.largest_numel = res.numel()
                report.largest_op = name
                report.largest_shape = tuple(res.shape)
        if name in _CONTRACTIONS:
            report.contractions += 1
        width = reduction_width(name, args, out)
        if width > report.widest_reduction:
            report.widest_reduction = width
            report.widest_op = name
        return out
