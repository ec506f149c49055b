#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks to build, test and run ringtrain.
# Idempotent: on a set-up machine it checks dpkg and returns in about a second.
set -euo pipefail

PACKAGES=(
  g++ cmake make pkg-config git ca-certificates
  openmpi-bin libopenmpi-dev          # mpirun and the MPI transport
  zookeeper libzookeeper-mt-dev       # rendezvous: server for tests/demo, C client
  default-jre-headless                # the ZooKeeper server's JVM
  libeigen3-dev libcli11-dev libgtest-dev
  nlohmann-json3-dev                  # znode payloads (JSON)
  zlib1g-dev                          # gzip'd IDX files, CRC-32 checksums
  libomp-dev                          # OpenMP runtime headers (g++ ships libgomp)
  liblinear-tools                     # reference solver for accuracy tests and benchmarks
  dataset-fashion-mnist               # the demo's and the benchmarks' real data
  gnuplot-nox                         # scripts/plot_metrics.sh
  iproute2 netcat-openbsd procps      # network namespaces (multi-host tests), ruok probes
  clang libclang-rt-14-dev            # libFuzzer targets
  python3                             # scripts/fashion_to_libsvm.sh (benchmarks)
  python3-xgboost                     # scripts/bench_scale.sh: XGBoost gblinear beside ringtrain
)

missing=()
for p in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  if [[ "$status" != "install ok installed" ]]; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "setup: all ${#PACKAGES[@]} packages present"
  exit 0
fi

echo "setup: installing ${missing[*]}"
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"; then
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
