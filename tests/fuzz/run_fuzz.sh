#!/usr/bin/env bash
# Runs one libFuzzer target for a bounded time over its seed corpus, as ctest does:
#   run_fuzz.sh FUZZER SEED_DIR WORK_DIR SECONDS [DICT]
# New inputs go to WORK_DIR/corpus (the checked-in seeds are only read); a crash, leak,
# hang (-timeout) or memory blow-up (-rss_limit_mb) exits non-zero and prints the input
# (hex dump and base64) and the command that replays it. The last lines say how many
# inputs ran and the coverage reached.
set -u
fuzzer=$1 seeds=$2 work=$3 seconds=$4 dict=${5:-}

# Sanitizer stacks name functions and lines only through llvm-symbolizer, which the
# sanitizers do not always find by themselves.
if [[ -z ${ASAN_SYMBOLIZER_PATH:-} ]]; then
    for s in llvm-symbolizer-15 llvm-symbolizer; do
        if command -v "$s" >/dev/null; then
            export ASAN_SYMBOLIZER_PATH=$(readlink -f "$(command -v "$s")")
            break
        fi
    done
fi

rm -rf "$work"
mkdir -p "$work/corpus" "$work/artifacts"
args=(-max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -close_fd_mask=3
      -print_final_stats=1 -artifact_prefix="$work/artifacts/")
[[ -n $dict ]] && args+=(-dict="$dict")

log="$work/fuzz.log"
"$fuzzer" "${args[@]}" "$work/corpus" "$seeds" >"$log" 2>&1
rc=$?

# The summary: libFuzzer's last status line and its final statistics.
grep -E '^#[0-9]+[[:space:]]' "$log" | tail -n 1
grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$log"
if [[ $rc -eq 0 ]]; then
    exit 0
fi

echo "==== $(basename "$fuzzer") failed (exit $rc); its output:"
tail -n 100 "$log"
for f in "$work"/artifacts/*; do
    [[ -f $f ]] || continue
    echo "==== input $f ($(stat -c %s "$f") bytes)"
    od -A d -t x1z -v "$f" | head -n 256
    echo "---- base64 (base64 -d > input to recreate it):"
    head -c 65536 "$f" | base64
    # The fuzzing run closed the target's stdout and stderr (-close_fd_mask): replayed,
    # the input shows the target's own message and a symbolized stack.
    echo "---- replay: $fuzzer $f"
    "$fuzzer" -timeout=10 -rss_limit_mb=2048 "$f" 2>&1 | tail -n 80
done
exit "$rc"
