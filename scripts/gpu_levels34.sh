#!/usr/bin/env bash
# Levels 3 and 4 on the GPU machine in one device call (at most ~9.5 minutes), each
# step under its own timeout so one slow step cannot eat the others: Level 4 graded on
# CUDA (DeepSeek's shapes against float64 are its `deepseek` check), Level 3 built and
# graded on CUDA with its GPU tests, Level 3's wrong kernels (234 s on the H200,
# 2026-12-05; compute-sanitizer runs twice per kernel). The benchmark tables need calls
# of their own (benchmarks/mla_decode.py, course bench). Every log goes to OUTDIR.
# Usage: bash scripts/gpu_levels34.sh OUTDIR
set -uo pipefail
out=${1:-${OUT:-/tmp/course-gpu}}
mkdir -p "$out"
step() { echo; echo "=== $* ($(date +%T))"; }
step "Level 4 graded on CUDA (solutions, stubs)"
timeout 170 bash scripts/gpu_level4.sh "$out" quick > "$out/level4_quick.txt" 2>&1
tail -30 "$out/level4_quick.txt"
step "Level 3: builds, grades, GPU tests"
timeout 170 bash scripts/gpu_level3.sh "$out" 1 > "$out/level3_part1.txt" 2>&1
tail -30 "$out/level3_part1.txt"
step "Level 3 wrong kernels"
PYTHONPATH=. timeout 250 python -m pytest -q -rs -m gpu tests/test_wrong_submissions_level3.py > "$out/wrong_level3.txt" 2>&1
tail -15 "$out/wrong_level3.txt"
