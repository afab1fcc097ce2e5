#!/usr/bin/env bash
# Level 4 on the GPU machine, in two parts that each fit one device call: (1) the
# solutions and the stubs graded on CUDA (DeepSeek's shapes, the speed check) and the
# Level 4 GPU tests (pytest -m gpu: a full grade with the speed check, the timing
# inputs against the float64 oracle); (2) the Level 4 grading and wrong-submission
# suites on CUDA (every wrong kernel and reference rejected there too). Logs go to OUTDIR.
# Usage from the checkout: bash scripts/gpu_level4.sh OUTDIR 1|2|quick
# (quick: the solutions and the stubs graded on CUDA with 6 examples a check, in about
# two minutes, for a single device call shared with other work.)
# (.wheels/ may hold pure-Python wheels the machine lacks: hypothesis, rich, click.)
set -uo pipefail
out=${1:-${OUT:-/tmp/course-gpu}}
part=${2:-1}
mkdir -p "$out"
if [ -d .wheels ]; then
    pip install -q --no-index --find-links .wheels hypothesis rich click 2>&1 | tail -1
fi
export PYTHONPATH=. PYTHONUNBUFFERED=1
step() { echo; echo "=== $* ($(date +%T))"; }
python -c "import torch, triton, sys; print('torch', torch.__version__, 'triton', triton.__version__, 'python', sys.version.split()[0], torch.cuda.get_device_name())" 2>&1 | tee "$out/env.txt"

show() {  # a JSON report as one line per check, with the message
    python -c "import json, sys; d = json.load(open(sys.argv[1])); print('score', d['score'], '/', d['max_score'])
for e in d['exercises']:
    for c in e['checks']:
        print(f\"{e['id']}.{c['name']:18s} {c['status']:18s} {c['score']}/{c['max_score']}  {c['message'][:400]}\")" "$1"
}

if [ "$part" = quick ]; then  # one device call of at most ~170 s: solutions (6 examples a check) and stubs on CUDA
    step "grade level4 --solutions --device cuda --examples 6"
    timeout 125 python -m grader grade level4 --solutions --device cuda --examples 6 --format json \
        --output "$out/grade_level4_cuda.json" 2>&1 | tee "$out/grade_level4_cuda.log" | tail -22
    echo "exit status ${PIPESTATUS[0]}"
    [ -s "$out/grade_level4_cuda.json" ] && show "$out/grade_level4_cuda.json" | tee "$out/grade_level4_cuda.txt"
    step "grade level4 (the stubs) --device cuda --no-timing"
    # 45 s: on a fresh machine the first CUDA contexts take longer (20 s was too short on the H200)
    timeout 45 python -m grader grade level4 --device cuda --no-timing --examples 2 --format json \
        --output "$out/stubs_level4_cuda.json" > /dev/null 2>&1
    [ -s "$out/stubs_level4_cuda.json" ] && show "$out/stubs_level4_cuda.json" | tee "$out/stubs_level4_cuda.txt"
    exit
fi

if [ "$part" = 2 ]; then
    step "pytest tests/test_level4_grading.py tests/test_wrong_submissions_level4.py (device auto = cuda)"
    /usr/bin/time -f "%e s" python -m pytest -q -rs tests/test_level4_grading.py tests/test_wrong_submissions_level4.py \
        2>&1 | tail -40 | tee "$out/pytest_level4_suites.log"
    exit
fi


step "grade level4 --solutions --device cuda"
/usr/bin/time -f "%e s" python -m grader grade level4 --solutions --device cuda --format json > "$out/grade_level4_solutions.json"
echo "exit status $?"
show "$out/grade_level4_solutions.json" | tee "$out/grade_level4_solutions.txt"

step "grade level4 (the stubs) --device cuda"
python -m grader grade level4 --device cuda --format json > "$out/stubs_level4.json"
show "$out/stubs_level4.json" | tee "$out/stubs_level4.txt"

step "pytest -m gpu tests/test_level4_grading.py"
/usr/bin/time -f "%e s" python -m pytest -q -rs -m gpu tests/test_level4_grading.py 2>&1 | tail -25 | tee "$out/pytest_level4_gpu.log"
