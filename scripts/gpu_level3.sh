#!/usr/bin/env bash
# Level 3 on the GPU machine, in two parts that each fit one device call: (1) the
# build timed cold and warm, the solutions and the stub graded on CUDA, the Level 3
# GPU tests; (2) a quick course bench. Every log goes to OUTDIR.
# Usage from the checkout: bash scripts/gpu_level3.sh OUTDIR 1|2
# (.wheels/ may hold pure-Python wheels the machine lacks: hypothesis, rich, click, pybind11.)
set -uo pipefail
out=${1:-${OUT:-/tmp/course-gpu}}
part=${2:-1}
mkdir -p "$out"
if [ -d .wheels ]; then
    pip install -q --no-index --find-links .wheels hypothesis rich click pybind11 2>&1 | tail -1
fi
export PYTHONPATH=. PYTHONUNBUFFERED=1
step() { echo; echo "=== $* ($(date +%T))"; }
{
    python -c "import torch, sys; print('torch', torch.__version__, 'python', sys.version.split()[0], torch.cuda.get_device_name())"
    python -c "import pybind11, sysconfig, os; p = sysconfig.get_paths()['include']; print('pybind11', pybind11.__version__, '| Python.h', os.path.isfile(p + '/Python.h'), p)"
    python -c "import kernels; print('nvcc', kernels.nvcc_path())"; nvcc --version | tail -2; nproc
} 2>&1 | tee "$out/env.txt"

if [ "$part" = 2 ]; then
    step "bench level3 --solutions --quick"
    python -m grader bench level3 --solutions --quick 2>&1 | tee "$out/bench_level3.txt"
    exit
fi

step "build: cold (empty cache: binding + kernel), warm (cache hit), the stub and the scalar kernel cold (binding cached)"
export FLASH_COURSE_CACHE=$(mktemp -d)
python - <<'PY' 2>&1 | tee "$out/build_times.txt"
import kernels
for label, path in [("solution cold", "solutions/level3/flash_fwd.cu"), ("solution warm", "solutions/level3/flash_fwd.cu"),
                    ("stub", "exercises/level3/flash_fwd.cu"), ("scalar", "tests/submissions/level3/flash_fwd/scalar.cu")]:
    built = kernels.build(path)
    print(f"{label:14s} {built.seconds:6.2f} s  cached={built.cached}")
PY

step "grade level3 --solutions --device cuda"
/usr/bin/time -f "%e s" python -m grader grade level3 --solutions --device cuda --output "$out/grade_level3_solutions.txt"
echo "exit status $?"
cat "$out/grade_level3_solutions.txt"

step "grade level3 (the stubs) --device cuda"
python -m grader grade level3 --device cuda --format json > "$out/stubs_level3.json"
python -c "import json; d = json.load(open('$out/stubs_level3.json')); print('stubs:', d['score'], [(c['name'], c['status']) for e in d['exercises'] for c in e['checks']])"

step "pytest -m gpu tests/test_level3*.py"
python -m pytest -q -rs -m gpu tests/test_level3*.py 2>&1 | tail -25 | tee "$out/pytest_level3_gpu.log"
python -m pytest -q -rs tests/test_level3_native.py -k sm80 2>&1 | tail -3 | tee -a "$out/pytest_level3_gpu.log"  # cuobjdump is here
