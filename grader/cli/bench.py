"""`course bench TARGET`: GPU timings of your kernel, the reference and the baselines."""

from __future__ import annotations

import contextlib
import math
import shutil
import tempfile
from pathlib import Path

import click
import torch
from rich.table import Table

from grader.bench import FLASHMLA_H100, BenchPoint, MlaPoint, plot, plot_mla
from grader.child.measure import SEQ_LENS
from grader.isolation import StudentProcess
from grader.manifest import ManifestError, load_manifest
from grader.report import console, err_console

# The exercise each target benchmarks (levels 3 and 4 join here when they land).
BENCHABLE = {"level2": "level2.flash_v2_triton", "level2.flash_v2_triton": "level2.flash_v2_triton",
             "level3": "level3.flash_fwd", "level3.flash_fwd": "level3.flash_fwd",
             "level4": "level4.mla_decode", "level4.mla_decode": "level4.mla_decode"}


@click.command(epilog="Example: course bench level2 --plot bench.png")
@click.argument("target")
@click.option("--solutions", is_flag=True, help="Benchmark solutions/ as 'student' too.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, path_type=Path), help="Also draw FILE.png.")
@click.option("--quick", is_flag=True, help="Only n = 1024 and 4096, head dim 128 (level 4: h_q 16 and 128).")
def bench(target: str, solutions: bool, plot_path: Path | None, quick: bool) -> None:
    """TFLOP/s of TARGET's kernel beside the reference solution, SDPA flash and cuDNN
    (level 4: GB/s and TFLOP/s beside the reference, the PyTorch reference and FlashMLA)."""
    if target not in BENCHABLE:
        raise click.BadParameter(f"choose one of: {', '.join(BENCHABLE)}", param_hint="TARGET")
    if not torch.cuda.is_available():
        raise click.ClickException("course bench needs a CUDA GPU; none is visible here")
    try:
        manifest = load_manifest()
    except ManifestError as err:
        raise click.ClickException(f"course.toml: {err}") from None
    exercise = manifest.exercise(BENCHABLE[target])
    where = manifest.root / ("solutions" if solutions else "exercises")
    request = {"op": "bench", "fn": exercise.functions[0],
               "reference_path": str(manifest.root / "solutions" / exercise.file),
               "head_dims": [128] if quick else [64, 128], "seq_lens": [1024, 4096] if quick else list(SEQ_LENS)}
    if exercise.level == "level4":  # MLA decode: FlashMLA's shapes, beside the naive PyTorch reference
        request.update(kind="mla_decode", heads_q=[16, 128] if quick else [16, 32, 64, 128], s_q=[1, 2],
                       pytorch_path=str(manifest.root / "solutions" / "level4" / "paged_kv.py"))
    elif exercise.level == "level2":
        request["tiled_path"] = str(manifest.root / "solutions" / "level2" / "flash_v2.py")
    else:  # a CUDA kernel: beside Level 2's Triton kernel
        request["triton_path"] = str(manifest.root / "solutions" / "level2" / "flash_v2_triton.py")
    err_console.print(f"benchmarking {where / exercise.file} (this takes a few minutes)")
    with contextlib.ExitStack() as stack:
        if exercise.file.endswith(".cu"):
            request["reference_path"] = _built_reference(Path(request["reference_path"]), stack)
        # The benchmark is not graded: its child may read the reference solutions it compares with.
        references = tuple(Path(request[key]) for key in ("reference_path", "tiled_path", "triton_path", "pytorch_path")
                           if key in request)
        student = stack.enter_context(
            StudentProcess(where / exercise.file, "student_bench", env={}, root=manifest.root, call_timeout=3600,
                           import_timeout=manifest.course.import_timeout_s, device="cuda", readable=references))
        reply = student.request(request)
    if not reply.ok:
        raise click.ClickException(f"the benchmark did not finish: {reply.status}: {reply.error}")
    if exercise.level == "level4":
        _show_mla(reply.extra, plot_path)
        return
    points = [BenchPoint(**p) for p in reply.extra["t_points"]]
    peaks = reply.extra["t_peaks"]
    _print_tables(points, peaks, reply.extra["t_device_name"])
    if plot_path is not None:
        try:
            plot(points, peaks, reply.extra["t_device_name"], str(plot_path))
        except ImportError:
            raise click.ClickException("--plot needs matplotlib: pip install matplotlib") from None
        err_console.print(f"wrote {plot_path}")


def _built_reference(source: Path, stack: contextlib.ExitStack) -> str:
    """The reference .cu built here (nvcc runs in this process, never in the child) and
    copied where the child, which may run as another user, can read it."""
    from kernels.builder import BuildError, build

    try:
        built = build(source)
    except BuildError as err:
        raise click.ClickException(f"the reference {source} did not build: {err}") from None
    directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="course-bench-")))
    directory.chmod(0o755)
    copy = directory / built.path.name
    shutil.copyfile(built.path, copy)
    copy.chmod(0o644)
    return str(copy)


def _print_tables(points: list[BenchPoint], peaks: dict, device_name: str) -> None:
    console.print(f"{device_name}: measured peaks {peaks['matmul_tflops']:.0f} TFLOP/s fp16 matmul, "
                  f"{peaks['copy_gbps']:.0f} GB/s copy. FLOP model: 4*b*h*n^2*d (half when causal), "
                  f"b*n = 16384, h = 16, fp16.")
    providers = list(dict.fromkeys(p.provider for p in points))
    for head_dim, causal in sorted({(p.head_dim, p.causal) for p in points}):
        t = Table(title=f"TFLOP/s, d={head_dim}{' causal' if causal else ''} (% of matmul peak)",
                  title_justify="left")
        t.add_column("n", justify="right")
        for provider in providers:
            t.add_column(provider, justify="right")
        for n in sorted({p.n for p in points}):
            row = {p.provider: p for p in points if (p.head_dim, p.causal, p.n) == (head_dim, causal, n)}
            cells = []
            for provider in providers:
                p = row.get(provider)
                cells.append("-" if p is None or math.isnan(p.tflops)
                             else f"{p.tflops:.0f} ({100 * p.tflops / peaks['matmul_tflops']:.0f}%)")
            t.add_row(str(n), *cells)
        console.print(t)


def _show_mla(extra: dict, plot_path: Path | None) -> None:
    """Level 4: GB/s and TFLOP/s per (h_q, s_q, lengths), FlashMLA's figures beside."""
    points = [MlaPoint(**p) for p in extra["t_points"]]
    peaks, device_name = extra["t_peaks"], extra["t_device_name"]
    console.print(f"{device_name}: measured copy {peaks['copy_gbps']:.0f} GB/s, fp16 matmul "
                  f"{peaks['matmul_tflops']:.0f} TFLOP/s. b=128, mean length 4096, d=576, dv=512, block 64, "
                  f"bf16, causal. Bytes: KV once + q + out; FLOPs: 2*s_q*h_q*(d+dv) per cached token (FlashMLA's).")
    providers = list(dict.fromkeys(p.provider for p in points))
    t = Table(title="GB/s | TFLOP/s", title_justify="left")
    for column in ("h_q", "s_q", "lengths", *providers, "FlashMLA (H100)"):
        t.add_column(column, justify="right")
    for heads_q, s_q, varied in sorted({(p.heads_q, p.s_q, p.varied) for p in points}):
        row = {p.provider: p for p in points if (p.heads_q, p.s_q, p.varied) == (heads_q, s_q, varied)}
        cells = ["-" if row.get(name) is None or math.isnan(row[name].ms)
                 else f"{row[name].gbps:.0f} | {row[name].tflops:.0f}" for name in providers]
        flashmla = [f"{v:.0f} {'GB/s' if m == 'gbps' else 'TFLOP/s'}"
                    for (m, h, s, v_), v in FLASHMLA_H100.items() if (h, s, v_) == (heads_q, s_q, varied)]
        t.add_row(str(heads_q), str(s_q), "varied" if varied else "fixed", *cells, ", ".join(flashmla) or "")
    console.print(t)
    if plot_path is not None:
        try:
            plot_mla(points, peaks, device_name, str(plot_path))
        except ImportError:
            raise click.ClickException("--plot needs matplotlib: pip install matplotlib") from None
        err_console.print(f"wrote {plot_path}")
