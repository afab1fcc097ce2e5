"""`course bench`: GPU throughput of the student's kernel beside the reference
solution and the field's baselines, over sequence lengths (Level 4: over query heads,
in GB/s and TFLOP/s with FlashMLA's formulas).

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


# FlashMLA's February-2025 kernel on the course's H100 (bf16, causal, shuffled block
# table, b = 128, L = 4096, d = 576, dv = 512), from the Level 4 issue: drawn as
# reference lines. (metric, h_q, s_q, varied) -> value.
FLASHMLA_H100 = {("gbps", 16, 1, False): 2735.0, ("gbps", 16, 1, True): 2586.0,
                 ("tflops", 128, 1, False): 500.0, ("tflops", 128, 2, False): 534.0}


@dataclass(frozen=True)
class MlaPoint:
    """One timing of `course bench level4` (FlashMLA's formulas, `grader.child.measure.mla_work`)."""
    provider: str
    heads_q: int
    s_q: int
    varied: bool  # lengths drawn around the mean instead of all equal
    ms: float  # median; nan when the provider could not run this shape
    tflops: float
    gbps: float


def plot_mla(points: list[MlaPoint], peaks: dict, device_name: str, path: str) -> None:
    """GB/s and TFLOP/s against h_q, one line per (provider, s_q, lengths); FlashMLA's
    figures as dotted lines, the measured copy bandwidth as the roof."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 5))
    # twelve lines: a colour per provider, a marker per s_q, dashes for varied lengths
    providers = list(dict.fromkeys(p.provider for p in points))
    colours = dict(zip(providers, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    for ax, metric, label in ((axes[0], "gbps", "GB/s (KV once + q + out)"),
                              (axes[1], "tflops", "TFLOP/s (2·s_q·h_q·(d+dv) per token)")):
        for provider, s_q, varied in dict.fromkeys((p.provider, p.s_q, p.varied) for p in points):
            series = [p for p in points if (p.provider, p.s_q, p.varied) == (provider, s_q, varied)]
            ax.plot([p.heads_q for p in series], [getattr(p, metric) for p in series], color=colours[provider],
                    marker="o" if s_q == 1 else "s", linestyle="--" if varied else "-",
                    label=f"{provider}, s_q={s_q}{', varied' if varied else ''}")
        for (which, heads_q, s_q, varied), value in FLASHMLA_H100.items():
            if which == metric:
                ax.axhline(value, color="black", linestyle=":", linewidth=1)
                ax.annotate(f"FlashMLA h_q={heads_q} s_q={s_q}{' varied' if varied else ''}: {value:.0f}",
                            (16, value), fontsize=7, va="bottom")
        if metric == "gbps":
            ax.axhline(peaks["copy_gbps"], color="grey", linestyle="--", linewidth=1)
            ax.annotate(f"measured copy {peaks['copy_gbps']:.0f} GB/s", (16, peaks["copy_gbps"]), fontsize=7,
                        va="bottom", color="grey")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("query heads h_q (h_kv = 1)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", ncol=4, fontsize=7)
    fig.suptitle(f"MLA decode on {device_name}: b=128, mean length 4096, d=576, dv=512, bf16, causal")
    fig.tight_layout(rect=(0, 0.14, 1, 1))  # room for the legend below the panels
    fig.savefig(path, dpi=120)
