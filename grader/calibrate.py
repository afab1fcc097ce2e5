"""Measure the tolerance constants: ``python -m grader.calibrate [--examples N]``.

For every attention-type reference solution and a spread of correct variants
(block sizes, exp2, loop orders) it draws the grader's own random cases and prints,
per dtype, the largest ratio ``error / baseline_error`` per row (the factor the
policy needs) and the largest error where the baseline is exact (the floor it needs).
docs/TOLERANCE.md records a run and the constants chosen from it.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
from collections import defaultdict

import torch
from hypothesis import given, seed, settings

from grader import oracle
from grader.checks.level2 import TILED_BOUNDS, TRITON_CPU_BOUNDS
from grader.inputs import AttentionBounds, attention_cases
from grader.manifest import load_manifest
from grader.tolerance import naive_attention_in_dtype
from grader.child.worker import load_module


def measure(fn, bounds: AttentionBounds, examples: int, stats: dict, label: str, tol) -> None:
    @seed(0)
    @settings(max_examples=examples, database=None, deadline=None)
    @given(attention_cases(bounds))
    def run(case):
        q, k, v = case.tensors()
        scale = 1.0 / math.sqrt(case.head_dim) if case.softmax_scale is None else case.softmax_scale
        exp_out, exp_lse = oracle.attention(q, k, v, case.causal, case.softmax_scale)
        base_out, base_lse = naive_attention_in_dtype(q, k, v, scale,
                                                      oracle.visible_keys(case.n_q, case.n_k, case.causal))
        kwargs = case.kwargs() if case.block_m is not None else {"causal": case.causal,
                                                                 "softmax_scale": case.softmax_scale}
        out, lse = fn(q, k, v, **kwargs)
        for name, got, exp, base in (("out", out, exp_out, base_out), ("lse", lse, exp_lse, base_lse)):
            finite = torch.isfinite(exp)
            err = torch.where(finite, (got.double() - exp).abs(), 0.0)
            base_err = torch.where(finite, (base.double() - exp).abs(), 0.0)
            err, base_err = err.amax(dim=-1), base_err.amax(dim=-1)  # each row has its own bound
            row = stats[(label, name, case.dtype)]
            row["max_err"] = max(row["max_err"], err.max().item())
            row["max_base"] = max(row["max_base"], base_err.max().item())
            ratio = err / base_err.clamp_min(1e-30)
            row["max_ratio"] = max(row["max_ratio"], ratio[base_err > 0].max().item() if bool((base_err > 0).any()) else 0)
            row["over_policy"] += int((err > tol.factor * base_err + tol.floor[case.dtype]).sum())
            zero_base = err[base_err == 0]
            row["err_at_zero_base"] = max(row["err_at_zero_base"], zero_base.max().item() if zero_base.numel() else 0)

    run()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--examples", type=int, default=150)
    args = parser.parse_args()
    root = load_manifest().root / "solutions"
    naive = load_module(root / "level1" / "naive_attention.py", "reference_naive_attention").naive_attention
    v1 = load_module(root / "level2" / "flash_v1.py", "reference_flash_v1").flash_attn_v1
    v2 = load_module(root / "level2" / "flash_v2.py", "reference_flash_v2").flash_attn_v2
    stats = defaultdict(lambda: {"max_err": 0.0, "max_base": 0.0, "max_ratio": 0.0, "err_at_zero_base": 0.0,
                                  "over_policy": 0})
    tol = load_manifest().tolerance
    plain = AttentionBounds(head_dims=(16, 40, 64), max_len=160)
    measure(naive, plain, args.examples, stats, "naive", tol)
    measure(v1, TILED_BOUNDS, args.examples, stats, "flash_v1", tol)
    measure(v2, TILED_BOUNDS, args.examples, stats, "flash_v2", tol)
    if importlib.util.find_spec("triton") is not None:
        import os

        os.environ.setdefault("TRITON_INTERPRET", "1")
        triton_v2 = load_module(root / "level2" / "flash_v2_triton.py", "reference_flash_v2_triton").flash_attn_v2_triton
        measure(triton_v2, TRITON_CPU_BOUNDS, max(args.examples // 4, 10), stats, "flash_v2_triton", tol)
    print(f"{'solution':<16} {'output':<6} {'dtype':<9} {'max err':>10} {'max naive err':>14} "
          f"{'max row ratio':>14} {'err where naive exact':>22} {'rows over policy':>17}")
    for (label, name, dtype), row in sorted(stats.items()):
        print(f"{label:<16} {name:<6} {dtype:<9} {row['max_err']:>10.3g} {row['max_base']:>14.3g} "
              f"{row['max_ratio']:>14.3g} {row['err_at_zero_base']:>22.3g} {row['over_policy']:>17}")


if __name__ == "__main__":
    main()
