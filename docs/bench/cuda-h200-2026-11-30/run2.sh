#!/usr/bin/env bash
# Second device call: CUDA tests on the gather col2im, its interleaved A/B, the op table again, and --compile on CUDA.
set -u
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD/src:$PWD/.devcarry/site" PYTHONUNBUFFERED=1 REFNETS_DATA_DIR="$PWD/.devcarry/data" REFNETS_LOG_DIR="/tmp/rlogs"
PY=python3
T0=$(date +%s)
stamp() { echo "== $(( $(date +%s) - T0 )) s: $*"; }
stamp cuda tests
timeout 150 $PY -m pytest -p no:cacheprovider -p no:benchmark -m cuda -n 8 -q -o addopts="-ra --strict-markers" tests --ignore=tests/test_notebooks.py 2>&1 | tee $OUT/cuda_tests.log | tail -8
stamp ab col2im
timeout 90 $PY .devcarry/ab_col2im.py cuda $OUT/ab_col2im.json 2>&1 | tail -6
stamp bench ops
OPIDS=$($PY -c "from refnets.bench.suite import IDS, EPOCHS; print(' '.join(i for i in IDS if i not in EPOCHS))")
timeout 90 $PY -c "from refnets.cli.bench import main; main()" --device cuda --only $OPIDS --json $OUT/bench_cuda_ops.json 2>&1 | tee $OUT/bench_cuda_ops.log | tail -22
for id in mlp.step lenet5.step lenet5_classic.step; do
  stamp "compile $id"
  timeout ${COMPILE_S:-110} $PY -c "from refnets.cli.bench import main; main()" --device cuda --compile --only $id --json $OUT/bench_cuda_compile_$id.json 2>&1 | tee $OUT/bench_cuda_compile_$id.log | tail -8
done
stamp done
