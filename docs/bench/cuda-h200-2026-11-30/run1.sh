#!/usr/bin/env bash
# One device call: CUDA tests, CUDA benchmark, the README's CUDA training command (custom and builtin).
set -u
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD/src:$PWD/.devcarry/site" PYTHONUNBUFFERED=1 REFNETS_DATA_DIR="$PWD/.devcarry/data" REFNETS_LOG_DIR="/tmp/rlogs"
PY=python3
T0=$(date +%s)
stamp() { echo "== $(( $(date +%s) - T0 )) s: $*"; }
stamp env
nvidia-smi -L
$PY -c "import sys,torch,lightning,torchmetrics,torchvision,hydra;print(sys.version.split()[0],'torch',torch.__version__,'tv',torchvision.__version__,'L',lightning.__version__,'tm',torchmetrics.__version__,'hydra',hydra.__version__,torch.cuda.get_device_name(0))"
nproc
stamp cuda tests
timeout ${TEST_S:-240} $PY -m pytest -p no:cacheprovider -p no:benchmark -m cuda -n 8 -q -o addopts="-ra --strict-markers" tests 2>&1 | tee $OUT/cuda_tests.log | tail -40
timeout 60 $PY -m pytest -p no:cacheprovider -p no:benchmark -q -o addopts="-ra" tests/test_bad_input.py tests/test_bench.py -k "cuda or device" 2>&1 | tail -5
stamp bench
OPIDS=$($PY -c "from refnets.bench.suite import IDS, EPOCHS; print(' '.join(i for i in IDS if i not in EPOCHS))")
timeout ${BENCH_S:-150} $PY -c "from refnets.cli.bench import main; main()" --device cuda --only $OPIDS --json $OUT/bench_cuda_ops.json 2>&1 | tee $OUT/bench_cuda_ops.log | tail -30
stamp bench epochs
timeout ${EPOCH_S:-180} $PY -c "from refnets.cli.bench import main; main()" --device cuda --only epoch.lenet5 overhead.lightning --epoch-repeats 2 --json $OUT/bench_cuda_epochs.json 2>&1 | tee $OUT/bench_cuda_epochs.log | tail -12
for ops in custom builtin; do
  stamp "train $ops"
  /usr/bin/time -f "wall %e s, max rss %M KB" timeout ${TRAIN_S:-90} $PY -c "from refnets.cli.train import main; main()" model=lenet5 data=mnist trainer=cuda ops=$ops trainer.max_epochs=${EPOCHS:-3} callbacks.progress_bar=null 2>&1 | tee $OUT/train_$ops.log | grep -v "^\s*$" | tail -15
done
find /tmp/rlogs -name metrics.json | head -4 | while read f; do echo "$f"; cat "$f"; echo; done
stamp done
