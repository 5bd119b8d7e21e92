#!/usr/bin/env bash
# Installs the build tree into a temporary prefix and builds a separate consumer project against
# it, with g++ alone (host-only) and, when nvcc is present, as CUDA.
#   check.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1
src=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" > /dev/null
cuda=OFF
command -v nvcc > /dev/null && cuda=ON
cmake -S "$src/tests/install" -B "$work/consumer" -DCMAKE_PREFIX_PATH="$work/prefix" \
  -DCONSUMER_WITH_CUDA=$cuda -DCMAKE_CUDA_ARCHITECTURES=90 > /dev/null
cmake --build "$work/consumer" -j2 > /dev/null
out=$("$work/consumer/host_consumer")
test "$out" = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
echo "installed package: host consumer OK; CUDA consumer built: $cuda"
