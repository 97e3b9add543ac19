#!/bin/sh
# Runs every libFuzzer target for a bounded time.
#
#   tests/fuzz/run.sh [TARGET...]          (default: all targets)
#   tests/fuzz/run.sh --build [TARGET...]  only configure and build them (tests/run does this
#                                          at low priority while the e2e suites run)
#
# Environment:
#   FUZZ_SECONDS  seconds per target (default 20)
#   FUZZ_JOBS     targets run at once (default: the cores online)
#   BUILD_DIR     the clang fuzz build (default <repo>/build-fuzz); configured here
#                 with CC=clang -Dfuzz=true -Db_sanitize=address,undefined if missing
#
# Each target starts from its seed corpus (tests/fuzz/corpus/<target>, read-only: new
# inputs go to a scratch directory) and its dictionary (tests/fuzz/<target>.dict) if
# any. Output: one line per target, "ok <target>" or "FAIL <target>", then
# "fuzz: N passed, N failed". Run statistics go to stderr; the full log and any
# crashing input stay in BUILD_DIR/fuzz-runs/<target>/. Exit status 1 if any
# target failed (a crash, a sanitizer report, a timeout or an out-of-memory).
set -u

build_only=false
if [ "${1:-}" = --build ]; then
    build_only=true
    shift
fi

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=${BUILD_DIR:-$repo/build-fuzz}
seconds=${FUZZ_SECONDS:-20}
all="fuzz_answer fuzz_api_queries fuzz_app_desc fuzz_device_headers fuzz_fleet_text fuzz_forwarded fuzz_github
    fuzz_gzip fuzz_image fuzz_manifest fuzz_notify_format fuzz_range fuzz_secure_boot fuzz_session fuzz_session_headers
    fuzz_tz fuzz_version
    fuzz_wire"
targets=${*:-$all}

# Every target tests/fuzz/meson.build builds is in the list: a new one is never left unrun.
built=$(grep -o "'fuzz_[a-z_0-9]*'" "$here/meson.build" | tr -d "'" | sort -u | tr '\n' ' ')
listed=$(printf '%s\n' $all | sort -u | tr '\n' ' ')
if [ "$built" != "$listed" ]; then
    echo "run.sh: the target list ($listed) differs from tests/fuzz/meson.build's ($built)" >&2
    exit 2
fi

case $seconds in
'' | *[!0-9]*)
    echo "run.sh: FUZZ_SECONDS must be a whole number of seconds" >&2
    exit 2
    ;;
esac

if [ ! -f "$build/build.ninja" ]; then
    (cd "$repo" && CC=clang meson setup "$build" -Dfuzz=true \
        -Db_sanitize=address,undefined) >&2 || {
        echo "run.sh: could not configure $build" >&2
        exit 2
    }
fi
ninja_targets=
for t in $targets; do
    ninja_targets="$ninja_targets tests/fuzz/$t"
done
# shellcheck disable=SC2086 # word splitting intended
ninja -C "$build" $ninja_targets >&2 || {
    echo "run.sh: build failed" >&2
    exit 2
}
if $build_only; then
    exit 0
fi

# Sanitizer findings must end the run, not just print.
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"

# Runs target $1 into $build/fuzz-runs/$1 and leaves its verdict in $out/verdict.
fuzz_one() {
    t=$1
    exe="$build/tests/fuzz/$t"
    out="$build/fuzz-runs/$t"
    rm -rf "$out"
    mkdir -p "$out/corpus"
    set -- -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$out/" -print_final_stats=1
    [ -f "$here/$t.dict" ] && set -- "$@" -dict="$here/$t.dict"
    set -- "$@" "$out/corpus"
    [ -d "$here/corpus/$t" ] && set -- "$@" "$here/corpus/$t"
    if [ -x "$exe" ] && "$exe" "$@" >"$out/log" 2>&1; then
        echo ok >"$out/verdict"
    else
        echo FAIL >"$out/verdict"
    fi
}

# Targets run side by side, one per core (FUZZ_JOBS, default the cores online): each
# is given the same seconds, so the stage takes seconds x targets / jobs.
jobs=${FUZZ_JOBS:-$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)}
running=0
for t in $targets; do
    fuzz_one "$t" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
        wait
        running=0
    fi
done
wait

passed=0
failed=0
for t in $targets; do
    out="$build/fuzz-runs/$t"
    if [ "$(cat "$out/verdict" 2>/dev/null)" = ok ]; then
        echo "ok $t"
        passed=$((passed + 1))
    else
        echo "FAIL $t"
        failed=$((failed + 1))
        echo "run.sh: $t failed; log: $out/log" >&2
        grep -E "ERROR|SUMMARY|runtime error|Test unit written" "$out/log" | head -5 >&2
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/log" | tail -1)
    echo "run.sh: $t: ${runs:-0} executions in ${seconds} s" >&2
done

echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
