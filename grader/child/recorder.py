"""Structural rules, checked by watching every torch op while student code runs.

One mechanism serves every rule: a TorchDispatchMode sees each aten op after
autograd decomposition (so `torch.softmax`, `F.softmax` and `x.softmax` all arrive
as `aten._softmax`) and records

- which banned ops were called (Level 1: no softmax family, no SDPA), and how
  often each op ran;
- the largest tensor any non-view op produced (Level 2: never an Nq x Nk matrix);
- the widest reduction: how many elements fed one output element of a sum, max,
  matmul contraction, scan or sort (Level 1: online softmax sees at most
  `block_size` elements of a row at once);
- how many matrix products ran (Level 2: causal v2 skips fully masked blocks),
  and the shape of each (Level 2: v1 and v2 compute scores in
  ``[block_m, block_n]`` tiles, in their own loop order);
- copies of tensors that existed before the call (Level 2: the Triton wrapper
  reads its inputs through their strides, never through a ``.contiguous()`` copy);
- launches of ``@triton.jit`` functions, by the module that defines them (Level 2:
  the Triton exercise's answer must come from a kernel of the student's file).

Watching ops, not grepping source, means a renamed import or a helper module
cannot hide a banned call, and a comment mentioning softmax is not a violation.
Work done outside torch (numpy, Triton kernels) is not seen; the rules are stated
for torch code.

All of this runs inside the student's process, so student code can switch it off.
The parent therefore uses a report only to reject or to explain, never alone to
award points: every structural check also requires the right result.
"""

from __future__ import annotations

import sys
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
MATRIX_PRODUCTS = frozenset(_CONTRACTIONS)  # their aten names, for the parent's rules
# Ops that copy a tensor, as aten names them: .contiguous() and .clone() arrive as
# clone, .to() / .float() as _to_copy, torch.empty_like(x).copy_(x) as copy_.
_COPIES = {"clone": 0, "_to_copy": 0, "copy_": 1}  # op -> index of the source argument
MAX_PRODUCTS = 4096  # shapes of the first matrix products kept; the count goes on


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
    # (rows, cols, inner) of each matrix product with a result of 2 dims or more: the
    # last two dims of the result and the contracted length, in call order.
    products: list[tuple[int, int, int]] = field(default_factory=list)
    input_copies: int = 0  # copies of a tensor that existed before the call
    input_copy_op: str = ""  # the first such copy: aten op and source shape
    input_copy_shape: tuple[int, ...] = ()
    kernel_launches: dict[str, int] = field(default_factory=dict)  # "module.qualname" -> launches
    op_counts: dict[str, int] = field(default_factory=dict)  # aten op -> calls

    def to_dict(self) -> dict:
        return {
            "banned": dict(self.banned),
            "largest_numel": self.largest_numel,
            "largest_op": self.largest_op,
            "largest_shape": list(self.largest_shape),
            "widest_reduction": self.widest_reduction,
            "widest_op": self.widest_op,
            "contractions": self.contractions,
            "products": [list(p) for p in self.products],
            "input_copies": self.input_copies,
            "input_copy_op": self.input_copy_op,
            "input_copy_shape": list(self.input_copy_shape),
            "kernel_launches": dict(self.kernel_launches),
            "op_counts": dict(self.op_counts),
        }

    @classmethod
    def from_dict(cls, d: dict) -> "OpReport":
        """Rebuild a report sent by the child; raises ValueError (or TypeError) on
        anything but the exact types ``to_dict`` writes."""
        if not isinstance(d, dict):
            raise TypeError(f"an op report must be a dict, got {type(d).__name__}")
        products = _list(d["products"], "products")
        if len(products) > MAX_PRODUCTS:
            raise ValueError(f"op report: {len(products)} products, at most {MAX_PRODUCTS} are sent")
        return cls(
            banned={_str(k, "banned"): _str(v, "banned") for k, v in _dict(d["banned"], "banned").items()},
            largest_numel=_count(d["largest_numel"], "largest_numel"),
            largest_op=_str(d["largest_op"], "largest_op"),
            largest_shape=_shape(d["largest_shape"], "largest_shape"),
            widest_reduction=_count(d["widest_reduction"], "widest_reduction"),
            widest_op=_str(d["widest_op"], "widest_op"),
            contractions=_count(d["contractions"], "contractions"),
            products=[_shape(p, "products", length=3) for p in products],
            input_copies=_count(d["input_copies"], "input_copies"),
            input_copy_op=_str(d["input_copy_op"], "input_copy_op"),
            input_copy_shape=_shape(d["input_copy_shape"], "input_copy_shape"),
            kernel_launches={_str(k, "kernel_launches"): _count(v, "kernel_launches")
                             for k, v in _dict(d["kernel_launches"], "kernel_launches").items()},
            op_counts={_str(k, "op_counts"): _count(v, "op_counts")
                       for k, v in _dict(d["op_counts"], "op_counts").items()},
        )


def _check_type(value, kind: type, what: str):
    if type(value) is not kind:
        raise TypeError(f"op report: {what} must be {kind.__name__}, got {type(value).__name__}")
    return value


def _str(value, what: str) -> str:
    return _check_type(value, str, what)


def _dict(value, what: str) -> dict:
    return _check_type(value, dict, what)


def _list(value, what: str) -> list:
    return _check_type(value, list, what)


def _count(value, what: str) -> int:
    if _check_type(value, int, what) < 0:
        raise ValueError(f"op report: {what} is negative ({value})")
    return value


def _shape(value, what: str, length: int | None = None) -> tuple[int, ...]:
    dims = tuple(_count(x, what) for x in _list(value, what))
    if length is not None and len(dims) != length:
        raise ValueError(f"op report: each of {what} has {length} numbers, got {len(dims)}")
    return dims


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


def _storage_key(t: torch.Tensor) -> int | None:
    """The address of the storage behind a tensor, None if it has none."""
    try:
        storage = t.untyped_storage()
        return storage.data_ptr() if storage.nbytes() else None
    except (RuntimeError, NotImplementedError):  # sparse, meta or other storage-less tensors
        return None


def _count_triton_launches(launches: dict[str, int]):
    """Count launches of ``@triton.jit`` functions into ``launches`` until the returned
    function is called. Only Triton's own launch path is patched (compiled and
    interpreted kernels; an autotuner launches through it too), and only when the
    student's code has imported triton."""
    patched = []
    for module_name, class_name in (("triton.runtime.jit", "JITFunction"),
                                    ("triton.runtime.interpreter", "InterpretedFunction")):
        cls = getattr(sys.modules.get(module_name), class_name, None)
        if cls is None or "run" not in vars(cls):
            continue
        original = vars(cls)["run"]

        def run(self, *args, _original=original, **kwargs):
            if not kwargs.get("warmup", False):
                fn = getattr(self, "fn", None)
                key = f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', '?')}"
                launches[key] = launches.get(key, 0) + 1
            return _original(self, *args, **kwargs)

        cls.run = run
        patched.append((cls, original))

    def restore():
        for cls, original in patched:
            cls.run = original

    return restore


_SEEN_INTO = frozenset({"aten", "prims"})  # op namespaces whose ops are the recorder's vocabulary


class OpRecorder(TorchDispatchMode):
    """Records an OpReport for everything torch does inside the ``with`` block."""

    def __init__(self, banned: dict[str, str] | None = None, inputs=(), student_file: str | None = None):
        super().__init__()
        self.banned = banned or {}
        self.inputs = list(inputs)  # the tensors the student's function was given
        self.student_file = student_file  # the submission's real path
        self.report = OpReport()
        # Addresses of the storages allocated during the call: the results of
        # functional ops (neither a view nor in place), which are always fresh. A copy
        # whose source is not one of them copies a tensor that existed before: an
        # input (``inputs``, where given, narrows it to those) or a module-level
        # tensor. Those stay alive through the call, so a freed inside address that
        # is reused is never mistaken for one of them.
        self._made_inside: set[int] = set()
        self._input_keys = {key for t in self.inputs
                            if isinstance(t, torch.Tensor) and (key := _storage_key(t)) is not None}
        self._ops: dict = {}  # OpOverload -> (name, is_view, allocates), looked up once per op
        self._restore_triton = None

    def __enter__(self):
        self._restore_triton = _count_triton_launches(self.report.kernel_launches)
        return super().__enter__()

    def __exit__(self, *exc):
        try:
            return super().__exit__(*exc)
        finally:
            self._restore_triton()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        info = self._ops.get(func)
        if info is None:
            info = self._ops[func] = (func.overloadpacket.__name__, func.is_view,
                                      not func.is_view and not func._schema.is_mutable)
        name, is_view, allocates = info
        report = self.report
        report.op_counts[name] = report.op_counts.get(name, 0) + 1
        if name in self.banned:
            report.banned[name] = self.banned[name]
        elif self.banned and func.namespace not in _SEEN_INTO:
            # a torch.library custom op runs its body out of this mode's sight: where some
            # ops are banned, an op the recorder cannot look into is refused with them
            report.banned[name] = f"{func.namespace}::{name} (a custom op, whose body the grader cannot see)"
        res = _first_tensor(out)
        if allocates:
            for t in (out if isinstance(out, (tuple, list)) else (out,)):
                if isinstance(t, torch.Tensor) and (key := _storage_key(t)) is not None:
                    self._made_inside.add(key)
        if not is_view and res is not None and res.numel() > report.largest_numel:
            report.largest_numel = res.numel()
            report.largest_op = name
            report.largest_shape = tuple(res.shape)
        width = reduction_width(name, args, out)
        if name in _CONTRACTIONS:
            report.contractions += 1
            if res is not None and res.dim() >= 2 and len(report.products) < MAX_PRODUCTS:
                report.products.append((int(res.shape[-2]), int(res.shape[-1]), width))
        if width > report.widest_reduction:
            report.widest_reduction = width
            report.widest_op = name
        if name in _COPIES:
            self._note_copy(name, args[_COPIES[name]], args[0] if name == "copy_" else res)
        return out

    def _note_copy(self, name: str, src, dst) -> None:
        if not isinstance(src, torch.Tensor) or not isinstance(dst, torch.Tensor):
            return
        src_key = _storage_key(src)
        # the Triton interpreter copies a storage onto itself after a launch: not a copy
        if src_key is None or src_key == _storage_key(dst) or src_key in self._made_inside:
            return
        if self._input_keys and src_key not in self._input_keys:
            return
        report = self.report
        if report.input_copies == 0:
            report.input_copy_op = name
            report.input_copy_shape = tuple(src.shape)
        report.input_copies += 1
