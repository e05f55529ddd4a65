#!/usr/bin/env bash
# The GPU measurements behind bench/RESULTS.md, in two stages that each fit one device call.
#   bash bench/gpu_session.sh explore OUTDIR   # GPU tests + every speed setting of the trainer
#   bash bench/gpu_session.sh results OUTDIR   # lesson 04's cached GPU results, the notebook on the GPU
#   bash bench/gpu_session.sh bench OUTDIR     # make bench (with --variants) for both U-Nets
#   bash bench/gpu_session.sh profile OUTDIR   # the GPU tests, then one whole gpu-size run timed end to end
# Uses the machine's own python3 (its torch) with this checkout on PYTHONPATH: no install.
set -uo pipefail
stage=${1:?stage: explore or final}
out=${2:?output folder}
mkdir -p "$out"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 MPLBACKEND=Agg
py=python3
echo "== machine"; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
$py -c "import torch, torchvision, sys; print('python', sys.version.split()[0], 'torch', torch.__version__, 'torchvision', torchvision.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0))"
nproc; date -u +%FT%TZ
case $stage in
explore)
  echo "== GPU tests"
  timeout 240 $py -m pytest -q -p no:cacheprovider tests/lessons/test_gpu_paths.py tests/lessons/test_ddpm_trainer.py \
      tests/components/test_unets.py tests/lessons/test_mnist.py 2>&1 | tee "$out/pytest_gpu.log" | tail -25
  echo "== bench with variants (UNetSimple)"
  timeout 420 make -s bench PY=$py BENCH_FLAGS="--variants --out $out/bench_variants.json" 2>&1 \
      | tee "$out/bench_variants.log"
  ;;
results)
  echo "== lesson 04 cached GPU results, 3 seeds"
  timeout 300 $py bench/lesson04_results.py --profile gpu_shipped --data shipped \
      --seeds 0 1 2 --out "$out/gpu_results.json" --no-progress 2>&1 | tee "$out/gpu_results.log"
  echo "== the lesson 04 solution notebook on this GPU (the profile it picks itself)"
  timeout 200 $py bench/notebook_as_script.py \
      solutions/04_mnist_simple_vs_sinusoidal/04_mnist_simple_vs_sinusoidal.ipynb > "$out/notebook_gpu.log" 2>&1
  echo "notebook exit $?"
  grep -E "Loaded|profile|Estimated|s of training|parameters,|ran top|failed|Error" "$out/notebook_gpu.log"
  ;;
bench)
  echo "== make bench --variants (UNetSimple)"
  timeout 330 make -s bench PY=$py BENCH_FLAGS="--variants --out $out/bench_simple.json" 2>&1 \
      | grep -v -i warn | tee "$out/bench_simple.log"
  echo "== the same loops for UNetSinusoidal"
  timeout 150 $py bench/run.py --device auto --model sinusoidal --out "$out/bench_sinusoidal.json" 2>&1 \
      | tee "$out/bench_sinusoidal.log"
  ;;
profile)
  echo "== GPU tests"
  timeout 240 $py -m pytest -q -p no:cacheprovider tests/lessons/test_gpu_paths.py 2>&1 | tee "$out/pytest_gpu.log" | tail -3
  echo "== one seed of the gpu profile's 4,680 steps for both U-Nets, process start to finish"
  start=$(date +%s.%N)
  timeout 200 $py bench/lesson04_results.py --profile gpu_shipped --data shipped --seeds 0 \
      --out "$out/gpu_one_seed.json" --no-progress 2>&1 | tee "$out/gpu_one_seed.log"
  $py -c "import sys, time; print(f'whole process: {time.time() - float(sys.argv[1]):.1f} s')" "$start"
  ;;
esac
