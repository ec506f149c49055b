#!/usr/bin/env bash
# plot_metrics.sh RUN_DIR|METRICS.jsonl [OUT.png]
# Renders objective and train/test accuracy per epoch from a run's metrics JSONL to a PNG
# (gnuplot, Debian package gnuplot-nox). Default output: <run dir>/metrics.png.
set -euo pipefail
src=${1:-}
[[ -n $src ]] || { echo "usage: plot_metrics.sh RUN_DIR|METRICS.jsonl [OUT.png]" >&2; exit 1; }
if [[ -d $src ]]; then metrics=$src/metrics.jsonl; else metrics=$src; fi
[[ -s $metrics ]] || { echo "plot_metrics.sh: no metrics at '$metrics' (train with --metrics FILE)" >&2; exit 1; }
out=${2:-$(dirname "$metrics")/metrics.png}
command -v gnuplot >/dev/null || { echo "plot_metrics.sh: gnuplot missing; run scripts/setup.sh" >&2; exit 1; }

tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
# epoch objective train_accuracy test_accuracy, one line per JSON line.
field() { grep -o "\"$1\":[^,}]*" | head -1 | cut -d: -f2; }
while IFS= read -r line; do
  e=$(field epoch <<<"$line"); o=$(field objective <<<"$line")
  tr=$(field train_accuracy <<<"$line"); te=$(field test_accuracy <<<"$line")
  [[ $te == null || -z $te ]] && te=NaN
  [[ $tr == null || -z $tr ]] && tr=NaN
  echo "$e $o $tr $te" >>"$tmp"
done <"$metrics"
[[ -s $tmp ]] || { echo "plot_metrics.sh: no epochs in '$metrics'" >&2; exit 1; }

gnuplot <<GP
set terminal pngcairo size 900,600 noenhanced
set output "$out"
set multiplot layout 2,1 title "ringtrain: $(basename "$(dirname "$metrics")")"
set xlabel "epoch"
set ylabel "objective"
set logscale y
set grid
plot "$tmp" using 1:2 with linespoints title "objective"
unset logscale y
set ylabel "accuracy"
set key bottom right
plot "$tmp" using 1:3 with linespoints title "train", "$tmp" using 1:4 with linespoints title "test"
unset multiplot
GP
echo "$out"
