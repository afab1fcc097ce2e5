#!/usr/bin/env bash
# One device call for the Level 3 reference kernel, its variants and wrong kernels (logs
# under OUTDIR; grading Level 3 on the GPU is scripts/gpu_level3.sh):
#   1. the course's builder cache warmed with the solution and the wrong kernels (in parallel);
#   2. benchmarks/flash_fwd_cuda.py: every variant and wrong kernel against float64, then
#      timed next to SDPA flash / cuDNN / the Level 2 Triton kernel (BENCH_ARGS);
#   3. the wrong kernels graded by the grader (tests/test_wrong_submissions_level3.py);
#   4. compute-sanitizer memcheck and racecheck of the reference on a small ragged causal case.
# Build the variants first where nvcc is (python benchmarks/flash_fwd_cuda.py --build-only
# --rebuild) and carry build/level3. Usage on the GPU machine, from the checkout:
#     BENCH_ARGS="--quick" SANITIZE="v1 v4" bash scripts/gpu_level3_kernel.sh OUTDIR   # both optional
set -uo pipefail
out=${1:-${OUT:-/tmp/level3-gpu}}
mkdir -p "$out"
export PYTHONPATH=. PYTHONUNBUFFERED=1
step() { echo; echo "=== $* ($(date +%T))"; }
reference=$(sed -n 's/^#define FLASH_VERSION \([0-9]*\)$/v\1/p' solutions/level3/flash_fwd.cu)
nvidia-smi -L

step "warm the builder cache"
python scripts/level3_wrong_kernels.py
timeout 90 python - <<'PY' 2>&1 | tee "$out/prewarm.log"
import glob
from concurrent.futures import ThreadPoolExecutor
import kernels
print("solution", kernels.build("solutions/level3/flash_fwd.cu").seconds)  # the binding too, once
with ThreadPoolExecutor(8) as pool:
    for path, built in zip(paths := sorted(glob.glob("build/wrong_kernels/level3/flash_fwd/*.cu") + glob.glob("tests/submissions/level3/flash_fwd/*.cu")),
                           pool.map(kernels.build, paths)):
        print(path, f"{built.seconds:.1f} s")
PY

step "check + time ($reference is the reference)"
timeout 110 python benchmarks/flash_fwd_cuda.py ${BENCH_ARGS:-} 2>&1 | tee "$out/bench.log"

step "wrong kernels through the grader"
timeout 110 python -m pytest -s -q -p no:cacheprovider tests/test_wrong_submissions_level3.py 2>&1 | tee "$out/wrong_level3.log"

for variant in ${SANITIZE:-$reference}; do
    for tool in memcheck racecheck; do
        step "compute-sanitizer --tool $tool ($variant)"
        timeout 40 compute-sanitizer --tool $tool python benchmarks/flash_fwd_cuda.py --sanitize "$variant" 2>&1 \
            | tee "$out/${tool}_$variant.log"
    done
done
