#!/usr/bin/env bash
# One device call for the Level 3 reference kernel: check every variant and wrong kernel
# against float64 and time them (benchmarks/flash_fwd_cuda.py), then compute-sanitizer
# memcheck and racecheck on a small ragged causal case. Logs go to OUTDIR.
# Usage on the GPU machine, from the checkout, with build/level3 carried from a machine
# with nvcc (python benchmarks/flash_fwd_cuda.py --build-only --rebuild):
#     bash scripts/level3_gpu.sh OUTDIR [VARIANT_FOR_RACECHECK ...]
set -uo pipefail
out=${1:-${OUT:-/tmp/level3-gpu}}
shift || true
mkdir -p "$out"
export PYTHONPATH=. PYTHONUNBUFFERED=1
step() { echo; echo "=== $* ($(date +%T))"; }
nvidia-smi -L
step "check + time"
timeout 170 python benchmarks/flash_fwd_cuda.py 2>&1 | tee "$out/bench.log"
step "compute-sanitizer --tool memcheck (v4)"
timeout 50 compute-sanitizer --tool memcheck python benchmarks/flash_fwd_cuda.py --sanitize v4 2>&1 | tee "$out/memcheck.log"
step "compute-sanitizer --tool racecheck (v4)"
timeout 60 compute-sanitizer --tool racecheck python benchmarks/flash_fwd_cuda.py --sanitize v4 2>&1 | tee "$out/racecheck.log"
for variant in "$@"; do
    step "compute-sanitizer --tool racecheck ($variant)"
    timeout 40 compute-sanitizer --tool racecheck python benchmarks/flash_fwd_cuda.py --sanitize "$variant" 2>&1 | tail -8 | tee -a "$out/racecheck_wrong.log"
done
