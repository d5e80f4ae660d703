#!/usr/bin/env bash
# libFuzzer over every parser of external input (Fuzz/fuzz-parsers; docs/operations.md, "Fuzzing").
#   scripts/fuzz.sh [target …]        build, replay Fuzz/regressions, fuzz each target FUZZ_SECONDS (5)
#   FUZZ_SECONDS=600 FUZZ_JOBS=2 FUZZ_ASAN=1 scripts/fuzz.sh uftp-message    a longer run
# Prints a line per target and "fuzz: N passed, N failed"; exits 1 when any failed. A crash's
# input is kept under $FUZZ_OUT/<target>/artifacts (add it to Fuzz/regressions/<target> once fixed).
set -uo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_TARGET=${FUZZ_SECONDS:-5}
JOBS=${FUZZ_JOBS:-2}
ASAN=${FUZZ_ASAN:-0}
SCRATCH=.build-fuzz$([ "$ASAN" = 1 ] && echo -asan)
OUT=${FUZZ_OUT:-$SCRATCH/fuzz-out}

# `--sanitize fuzzer`, not -Xswiftc: only then does SwiftPM compile the program as a library and
# leave `main` to libFuzzer. `--product`: the other programs have top-level code.
BUILD=(swift build -c release --scratch-path "$SCRATCH" --product fuzz-parsers --sanitize fuzzer)
# Never a second --sanitize: SwiftPM passes each as its own -sanitize= and swiftc keeps the last.
[ "$ASAN" = 1 ] && BUILD+=(-Xswiftc -sanitize=fuzzer,address -Xcc -fsanitize=address)
echo "+ ${BUILD[*]}"
mkdir -p "$SCRATCH"
"${BUILD[@]}" > "$SCRATCH/build.log" 2>&1 || { tail -30 "$SCRATCH/build.log"; echo "fuzz: the build failed"; exit 1; }
BIN=$SCRATCH/release/fuzz-parsers

if [ $# -gt 0 ]; then TARGETS=("$@"); else
  TARGETS=($(FUZZ_TARGET=- "$BIN" 2>&1 | sed -n 's/^fuzz targets: //p')); fi
[ ${#TARGETS[@]} -gt 0 ] || { echo "fuzz: no targets"; exit 1; }
rm -rf "$OUT"; mkdir -p "$OUT"

run_target() {
  local target=$1 dir="$OUT/$1"
  mkdir -p "$dir/new" "$dir/artifacts"
  # The harness unhooks the Swift backtracer too; leaks are not crashes here (LeakSanitizer
  # would still fail the run at exit without ASAN_OPTIONS).
  export FUZZ_TARGET=$target SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
  # Inputs that once crashed: each is run once.
  local regressions=(Fuzz/regressions/$target/*)
  if [ -f "${regressions[0]}" ] && ! "$BIN" "${regressions[@]}" > "$dir/regressions.log" 2>&1; then
    echo "FAIL $target: a regression input crashes ($dir/regressions.log)"; return 1
  fi
  # New inputs go to the first folder; the committed corpus is only read.
  local seeds=(); [ -d "Fuzz/corpus/$target" ] && seeds=("Fuzz/corpus/$target")
  "$BIN" -max_total_time="$SECONDS_PER_TARGET" -max_len=8192 -timeout=10 -rss_limit_mb=2048 -detect_leaks=0 \
    -print_final_stats=1 -artifact_prefix="$dir/artifacts/" "$dir/new" "${seeds[@]}" > "$dir/fuzz.log" 2>&1
  local status=$?
  grep -q '^INFO: Loaded [0-9]* modules' "$dir/fuzz.log" || { echo "FAIL $target: not instrumented ($dir/fuzz.log)"; return 1; }
  if [ $status -ne 0 ]; then
    echo "FAIL $target: $(grep -m1 '^SUMMARY' "$dir/fuzz.log") $(ls "$dir"/artifacts/* 2>/dev/null | head -1)"; return 1
  fi
  echo "ok   $target: $(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/fuzz.log") inputs," \
       "$(sed -n 's/^stat::average_exec_per_sec: *//p' "$dir/fuzz.log")/s, $(ls "$dir/new" | wc -l) new"
}
export -f run_target; export BIN OUT SECONDS_PER_TARGET

printf '%s\n' "${TARGETS[@]}" | xargs -P "$JOBS" -I{} bash -c 'run_target "$@"' _ {} | tee "$OUT/summary.txt"
failed=$(grep -c '^FAIL' "$OUT/summary.txt"); passed=$(grep -c '^ok' "$OUT/summary.txt")
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
