#!/usr/bin/env bash
# Installs the build tree into a temporary prefix and builds separate consumer projects against
# it: host-only with g++ (whose compile lines must name no CUDA directory) and, when nvcc is
# present, with CUDA. Then checks that the installed command line runs, and that a configure of
# the headers alone (every optional part off) looks for none of the test, tool and benchmark
# dependencies (nlohmann-json, optional, is looked for quietly: tensorhash::json).
#   check.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1
src=$(cd "$2" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" > /dev/null

# The command line, installed with the library.
"$work/prefix/bin/tensorhash" --version | grep -q '^tensorhash 0\.1\.'

consume() { # consume DIR WITH_CUDA
  cmake -S "$src/tests/install" -B "$1" -DCMAKE_PREFIX_PATH="$work/prefix" \
    -DCONSUMER_WITH_CUDA="$2" -DCMAKE_CUDA_ARCHITECTURES=90 -DEXAMPLES_DIR="$src/examples" \
    -DCMAKE_EXPORT_COMPILE_COMMANDS=ON > /dev/null
  cmake --build "$1" -j2 > /dev/null
  test "$("$1/host_consumer")" = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
  (cd "$1" && ./manifest_consumer "$1/m.json" > /dev/null)
}
consume "$work/host" OFF
cuda_include=$(dirname "$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)")/../
if grep -E -- "-isystem [^ ]*(cccl|targets/[^ /]*/include)|$(realpath -m "$cuda_include")" \
  "$work/host/compile_commands.json"; then
  echo "a host-only consumer was given CUDA directories" >&2
  exit 1
fi
cuda=OFF
if command -v nvcc > /dev/null; then
  cuda=ON
  consume "$work/cuda" ON
fi

# Headers alone: nothing but a compiler and CMake.
cmake -S "$src" -B "$work/headers" -DTENSORHASH_BUILD_TESTS=OFF -DTENSORHASH_BUILD_TOOLS=OFF \
  -DTENSORHASH_BUILD_BENCHMARKS=OFF -DTENSORHASH_BUILD_EXAMPLES=OFF > /dev/null
if grep -E '^(Catch2|CLI11|dlpack|benchmark)_DIR:|^OPENSSL_' \
  "$work/headers/CMakeCache.txt"; then
  echo "a headers-only configure looked for a dependency it does not need" >&2
  exit 1
fi
cmake --install "$work/headers" --prefix "$work/headers-prefix" > /dev/null
test -f "$work/headers-prefix/include/tensorhash/tensorhash.hpp"
echo "installed package: host consumer and C++ manifest example OK, no CUDA in host compile" \
  "lines; CUDA consumer built: $cuda; command line installed; headers alone need no dependency"
