#!/usr/bin/env bash
# Builds the record decoder's fuzz target with clang (libFuzzer, ASan, UBSan)
# and runs it for the given seconds (default 180) on fuzz/corpus, which it
# extends. Needs Debian's clang and libclang-rt-14-dev.
#   fuzz/run.sh 300
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps clang libclang-rt-14-dev
mkdir -p build-fuzz
clang++ -std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined \
  -fno-sanitize-recover=all -I actors/include \
  actors/src/records.cpp fuzz/record_decoder.cpp -o build-fuzz/record_decoder
build-fuzz/record_decoder -max_total_time="${1:-180}" -max_len=512 \
  -print_final_stats=1 fuzz/corpus/record_decoder
