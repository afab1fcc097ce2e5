#!/usr/bin/env bash
# One device call that runs every GPU check of the course and the level 2 benchmark.
# Usage on the GPU machine, from the checkout: bash scripts/gpu_session.sh [OUTDIR]
# (.wheels/ may hold pure-Python wheels for packages the machine lacks; it has no network.)
set -uo pipefail
out=${1:-${OUT:-/tmp/course-gpu}}
mkdir -p "$out"
if [ -d .wheels ]; then
    pip install -q --no-index --find-links .wheels hypothesis rich click 2>&1 | tail -1
fi
export PYTHONPATH=. PYTHONUNBUFFERED=1
python -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__, torch.cuda.get_device_name())"
python -m pytest -q -m gpu tests/test_gpu.py 2>&1 | tee "$out/gpu_tests.log"
python -m grader grade level2 --solutions --device cuda --output "$out/grade_level2_cuda.txt"
echo "grade exit status $?"
cat "$out/grade_level2_cuda.txt"
python -m grader bench level2 --solutions --plot "$out/bench_level2.png" 2>&1 | tee "$out/bench_level2.txt"
