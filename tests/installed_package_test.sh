#!/usr/bin/env bash
# Installs ActorMQ from BUILD_DIR into a scratch prefix, then configures,
# builds and runs examples/installed against it, as an outside project would.
set -euo pipefail
build=$1
source_dir=$(cd "$(dirname "$0")/.." && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cmake --install "$build" --prefix "$scratch/prefix" >/dev/null
# A sanitized library needs a sanitized program.
sanitize=$(sed -n 's/^ACTORMQ_SANITIZE:STRING=//p' "$build/CMakeCache.txt")
flags=()
if [ -n "$sanitize" ]; then
  flags=(-DCMAKE_CXX_FLAGS="-fsanitize=$sanitize"
         -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=$sanitize")
fi
cmake -S "$source_dir/examples/installed" -B "$scratch/build" \
  -DCMAKE_PREFIX_PATH="$scratch/prefix" "${flags[@]}" >/dev/null
cmake --build "$scratch/build" >/dev/null
"$scratch/build/installed_example"
