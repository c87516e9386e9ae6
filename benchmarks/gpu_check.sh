#!/usr/bin/env bash
# GPU check: the CUDA-marked tests, a real `runner sweep` of every matmul
# strategy on cuda, and the stored timings next to a bare torch.utils.benchmark
# measurement of the same strategy and shape on the same GPU.
#
#   bash benchmarks/gpu_check.sh            # from anywhere; a few minutes at most
#
# Installs nothing: run it where scratchlab and a CUDA build of torch are
# already installed (`pip install -e ".[test]"`). On a machine without CUDA it
# stops at once with one line saying so, exit code 2.
#
# Each step has its own time limit (GPU_CHECK_STEP_S, default 240 s; each test 120 s), so a
# step that hangs costs that much and the next steps still run: on a lent GPU machine the
# minutes are few. Output is unbuffered, so a log written through `tee` has every line so far.
set -uo pipefail
export PYTHONUNBUFFERED=1
STEP_S="${GPU_CHECK_STEP_S:-240}"
cd "$(dirname "$0")/.." || exit 2

if ! python -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
    echo "error: no CUDA device (torch $(python -c 'import torch; print(torch.__version__)' 2>/dev/null || echo 'not importable'): torch.cuda.is_available() is False); this check needs a GPU" >&2
    exit 2
fi
python -c 'import torch; print("device:", torch.cuda.get_device_name(0), "| torch", torch.__version__, "| CUDA", torch.version.cuda)'

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
# every step runs even when an earlier one fails (GPU time is scarce: get all
# the evidence from one go); the exit code is 1 when any step failed
failed=()

echo
echo "== 1/3 CUDA-marked tests"
# only the files that hold CUDA tests are collected: the rest of the suite needs the whole
# test extra (Streamlit, Dask, PostgreSQL drivers), which a GPU machine may not have
mapfile -t cuda_files < <(grep -rlE "pytest\.mark\.cuda|mark\.cuda\b" tests | sort)
timeout "$STEP_S" python -m pytest -m cuda -v -p no:cacheprovider --timeout 120 --durations 10 \
    "${cuda_files[@]}" || failed+=("CUDA tests")

echo
echo "== 2/3 runner sweep --plugins matmul --experiments matmul --device cuda"
# --experiments matmul: the train runs that --plugins matmul would add take
# minutes with the loop strategies on a GPU (one kernel launch per element) and
# are covered by the CUDA tests above; --timeout bounds any single run.
timeout "$STEP_S" runner --db "sqlite:///$TMP/gpu.db" sweep --plugins matmul --experiments matmul --device cuda \
    --timeout 120 -s matmul.shapes=5x784x10,4096x4096x4096 || failed+=("runner sweep on cuda")

echo
echo "== 3/3 stored timings vs a bare torch.utils.benchmark measurement on cuda"
timeout "$STEP_S" python benchmarks/timing_fidelity.py --from-db "sqlite:///$TMP/gpu.db" --device cuda \
    || failed+=("stored vs bare timings")

echo
if [ "${#failed[@]}" -gt 0 ]; then
    echo "gpu_check: FAILED: $(IFS=,; echo "${failed[*]}")" >&2
    exit 1
fi
echo "gpu_check: all three steps passed"
