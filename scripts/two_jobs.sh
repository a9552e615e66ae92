#!/usr/bin/env bash
# Two jobs at once on one machine, against each job alone: the wall times a user sees who starts a second job
# beside a first (two terminals, or a sweep beside a run). For one checkout; run it for two to compare them.
#
#   scripts/two_jobs.sh [CHECKOUT] [ROUNDS] [PYTHON]       # defaults: this checkout, 5 rounds, .venv/bin/python
#   scripts/two_jobs.sh /work/wt/base 5 /work/main/.venv/bin/python    # "before" (reslab imported from CHECKOUT/src)
#
# Cases, each round in turn (every process's wall time, start-up included; a sweep's jobs also by their
# metrics.json wall_time_s, the job without the process start):
#   alone      one default `python train.py`
#   pair       two default `python train.py` started together
#   sweep      a 2-job sweep (hydra/launcher=parallel, n_jobs=2, seed=0,1) alone
#   sweep+run  that sweep started together with one default `python train.py`
# Prints medians over the rounds and each case against `alone` (or `sweep`). Run it on an otherwise idle machine:
# another process's load is exactly what it measures.
set -euo pipefail
CHECKOUT=$(cd "${1:-$(dirname "$0")/..}" && pwd)
ROUNDS=${2:-5}
PYTHON=${3:-$CHECKOUT/.venv/bin/python}
[[ $PYTHON == */* ]] && PYTHON=$(cd "$(dirname "$PYTHON")" && pwd)/$(basename "$PYTHON")  # the runs start elsewhere
WORK=$(mktemp -d "${TMPDIR:-/tmp}/two_jobs.XXXXXX")
RESULTS=$WORK/times.csv
export PYTHONPATH=$CHECKOUT/src
cd "$WORK"

run() {  # run <case> <label> <folder> <args...>: one process, its wall time appended to the results if it succeeded
  local case=$1 label=$2 folder=$3
  shift 3
  local start end
  start=$(date +%s.%N)
  if "$PYTHON" "$CHECKOUT/train.py" "$@" > "$folder.log" 2>&1; then
    end=$(date +%s.%N)
    echo "$case,$label,process,$(echo "$end - $start" | bc)" >> "$RESULTS"
  else
    echo "failed: $case $label (see $folder.log); left out of the medians" >&2
  fi
}

job_walls() {  # job_walls <case> <sweep folder>: each sweep job's metrics.json wall_time_s
  for metrics in "$2"/*/metrics.json; do
    wall=$("$PYTHON" -c "import json, sys; print(json.load(open(sys.argv[1]))['wall_time_s'])" "$metrics")
    echo "$1,$(basename "$(dirname "$metrics")"),job,$wall" >> "$RESULTS"
  done
}

SWEEP=(-m hydra/launcher=parallel hydra.launcher.n_jobs=2 seed=0,1)
for round in $(seq "$ROUNDS"); do
  r=$WORK/r$round
  mkdir -p "$r"
  run alone run "$r/alone" "hydra.run.dir=$r/alone"
  run pair first "$r/pair1" "hydra.run.dir=$r/pair1" & run pair second "$r/pair2" "hydra.run.dir=$r/pair2" & wait
  run sweep sweep "$r/sweep" "${SWEEP[@]}" "hydra.sweep.dir=$r/sweep"
  job_walls sweep "$r/sweep"
  run sweep+run sweep "$r/both_sweep" "${SWEEP[@]}" "hydra.sweep.dir=$r/both_sweep" &
  run sweep+run run "$r/both_run" "hydra.run.dir=$r/both_run" & wait
  job_walls sweep+run "$r/both_sweep"
  echo "round $round/$ROUNDS done" >&2
done

"$PYTHON" - "$RESULTS" "$CHECKOUT" <<'EOF'
import collections, csv, statistics, sys
times = collections.defaultdict(list)
for case, label, kind, seconds in csv.reader(open(sys.argv[1])):
    times[case, "sweep job" if kind == "job" else label, kind].append(float(seconds))
base = {"process": statistics.median(times["alone", "run", "process"])}
sweep_jobs = times.get(("sweep", "sweep job", "job"))
print(f"checkout {sys.argv[2]}: medians over {len(times['alone', 'run', 'process'])} rounds (s)\n")
print("| case | process | median s | runs | against alone |\n|---|---|---:|---:|---:|")
for (case, label, kind), values in times.items():
    m = statistics.median(values)
    ref = statistics.median(sweep_jobs) if kind == "job" and sweep_jobs else base["process"]
    print(f"| {case} | {label} ({'metrics.json wall_time_s' if kind == 'job' else 'whole process'}) | {m:.1f} | "
          f"{len(values)} | {m / ref:.2f}x |")
EOF
echo "raw times: $RESULTS" >&2
