#!/usr/bin/env bash
# The device calls that run every GPU check of the course, in two parts that each fit
# one 10-minute call: (1) the GPU tests, the grades of the solutions and the stubs on
# CUDA, and the hostile submissions with the GPU's toolchain allowed; (2) the Level 2
# wrong submissions on the GPU and a quick benchmark.
# Usage on the GPU machine, from the checkout: bash scripts/gpu_session.sh OUTDIR 1|2
# (.wheels/ may hold pure-Python wheels for packages the machine lacks; it has no network.)
set -uo pipefail
out=${1:-${OUT:-/tmp/course-gpu}}
part=${2:-1}
mkdir -p "$out"
if [ -d .wheels ]; then
    pip install -q --no-index --find-links .wheels hypothesis rich click numpy 2>&1 | tail -1
fi
export PYTHONPATH=. PYTHONUNBUFFERED=1
step() { echo; echo "=== $* ($(date +%T))"; }
python -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__, torch.cuda.get_device_name())"
python -c "from grader import isolation as i; print('layers:', i.isolation_layers(), '| bwrap', i.sandbox_available())"

if [ "$part" = 1 ]; then
    step "grade level2 --solutions --device cuda"
    /usr/bin/time -f "%e s" python -m grader grade level2 --solutions --device cuda --output "$out/grade_level2_cuda.txt"
    echo "exit status $?"
    cat "$out/grade_level2_cuda.txt"

    step "grade level1 --solutions --device cuda"
    /usr/bin/time -f "%e s" python -m grader grade level1 --solutions --device cuda 2>&1 | tail -3

    step "grade level2 (the stubs) --device cuda"
    python -m grader grade level2 --device cuda --format json --no-timing > "$out/stubs_level2.json"
    python -c "import json; d = json.load(open('$out/stubs_level2.json')); print('stubs:', d['score'], [sorted({c['status'] for c in e['checks']}) for e in d['exercises']])"

    step "GPU tests"
    python -m pytest -q -m gpu tests/ 2>&1 | tail -15 | tee "$out/gpu_tests.log"

    step "hostile submissions on the GPU machine"
    python -m pytest -q tests/test_hostile.py tests/test_isolation.py 2>&1 | tail -15 | tee "$out/hostile.log"
else
    step "Level 2 wrong submissions on the GPU machine"
    python -m pytest -q tests/test_wrong_submissions_level2.py tests/test_level2_grading.py 2>&1 | tail -15 | tee "$out/wrong_level2.log"

    step "bench level2 --quick"
    python -m grader bench level2 --solutions --quick 2>&1 | tee "$out/bench_level2.txt"
fi
