"""`course bench`: GPU throughput of the student's kernel beside the reference
solution and the field's baselines, over sequence lengths.

FLOP model (forward, Nq = Nk = n): 4 * batch * heads * n^2 * head_dim, half of it
under causal. Each provider is timed with `triton.testing.do_bench` (median).
The measurements run inside the grader's child process (`grader.child.measure`),
because they run student code; this module only draws the plot.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BenchPoint:
    provider: str
    head_dim: int
    causal: bool
    n: int
    ms: float  # median; nan when the provider could not run this shape
    tflops: float


def plot(points: list[BenchPoint], peaks: dict, device_name: str, path: str) -> None:
    """One panel per (head_dim, causal): TFLOP/s against sequence length."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = sorted({(p.head_dim, p.causal) for p in points})
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 4), sharey=True, squeeze=False)
    for ax, (head_dim, causal) in zip(axes[0], panels):
        for provider in dict.fromkeys(p.provider for p in points):
            series = [p for p in points if (p.provider, p.head_dim, p.causal) == (provider, head_dim, causal)]
            ax.plot([p.n for p in series], [p.tflops for p in series], marker="o", label=provider)
        ax.axhline(peaks["matmul_tflops"], color="grey", linestyle="--", linewidth=1)
        ax.set_xscale("log", base=2)
        ax.set_title(f"d={head_dim}{', causal' if causal else ''}")
        ax.set_xlabel("sequence length")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("TFLOP/s (fp16, 4·b·h·n²·d, ½ causal)")
    axes[0][-1].legend(fontsize=8)
    fig.suptitle(f"FlashAttention-2 forward on {device_name} "
                 f"(dashed: measured fp16 matmul peak {peaks['matmul_tflops']:.0f} TFLOP/s)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
