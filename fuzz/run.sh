#!/usr/bin/env bash
# Builds the fuzz targets with clang (libFuzzer, ASan, UBSan) and runs each
# for the given seconds (default 180) on its corpus in fuzz/corpus/<target>,
# which it extends. Needs Debian's clang and libclang-rt-14-dev.
#   fuzz/run.sh 300                    every target, 300 s each
#   fuzz/run.sh 60 http_reader         one target
# Targets: record_decoder (stored records), http_reader (the HTTP request
# reader, at once against byte by byte), request_body (the body and query of
# every route: JSON, form and other types), auth_file (the --auth-file parser
# and its glob matcher), sqs_request (SQS requests of every action in both
# protocols, and SigV4's Authorization header), members (the --cluster
# member list, and rendezvous placement on what it takes).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps clang libclang-rt-14-dev
seconds="${1:-180}"
shift || true
targets=("$@")
if (( ${#targets[@]} == 0 )); then
  targets=(record_decoder http_reader request_body auth_file sqs_request
           members)
fi
flags=(-std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined
       -fno-sanitize-recover=all -I actors/include -I http)
mkdir -p build-fuzz
for target in "${targets[@]}"; do
  case "$target" in
    record_decoder)
      sources=(actors/src/records.cpp); libs=(); max_len=512 ;;
    http_reader)
      sources=(http/wire.cpp); libs=(-lhttp_parser); max_len=4096 ;;
    request_body)
      sources=(http/api.cpp http/attributes.cpp http/json_api.cpp
               http/auth.cpp actors/src/errors.cpp actors/src/log.cpp)
      libs=(-lcaf_core -lcrypto); max_len=8192 ;;
    auth_file)
      sources=(http/auth.cpp); libs=(-lcrypto); max_len=4096 ;;
    sqs_request)
      sources=(http/sqs.cpp http/sigv4.cpp http/attributes.cpp
               http/json_api.cpp http/auth.cpp actors/src/errors.cpp
               actors/src/log.cpp)
      libs=(-lcaf_core -lcrypto); max_len=8192 ;;
    members)
      sources=(actors/src/cluster.cpp actors/src/errors.cpp actors/src/log.cpp)
      libs=(-lcaf_openssl -lcaf_io -lcaf_core -lcrypto); max_len=1024 ;;
    *) echo "unknown fuzz target: $target" >&2; exit 2 ;;
  esac
  clang++ "${flags[@]}" "${sources[@]}" "fuzz/$target.cpp" "${libs[@]}" \
    -o "build-fuzz/$target"
  mkdir -p "fuzz/corpus/$target"
  "build-fuzz/$target" -max_total_time="$seconds" -max_len="$max_len" \
    -print_final_stats=1 "fuzz/corpus/$target"
done
