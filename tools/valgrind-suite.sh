#!/usr/bin/env bash
# valgrind-suite.sh: runs clt's ctest suite under valgrind memcheck, one test at a time,
# and reports memory errors and definite leaks per test.
#
#   tools/valgrind-suite.sh [--build DIR] [--devices LIST] [--timeout S]
#                           [--tests REGEX] [--exclude REGEX] [--no-build] [--help]
#
#   --build DIR      the build tree (default build-valgrind): configured RelWithDebInfo
#                    with -DCLT_WERROR=ON and built unless --no-build
#   --devices LIST   CLT_TEST_DEVICES for the per-device tests (e.g. "host"); default
#                    every device the library lists (host and PoCL here)
#   --timeout S      seconds per test under valgrind (default 3600)
#   --tests REGEX    only tests whose name matches (grep -E)
#   --exclude REGEX  not those
#
# How: `ctest --show-only=json-v1` gives each test's command, environment and working
# directory. A test whose command is a program of the build tree runs as
# `valgrind PROGRAM ARGS`; one run by python (the tools' contract checks) gets its
# tool argument replaced by a wrapper that runs the tool under valgrind. Tests that
# run only compilers or cmake (tool_check_kernels*, install_consumer, the aarch64
# compile) have no clt code to check and are skipped, saying so. Each test first runs
# once without valgrind, which fills PoCL's kernel cache (POCL_CACHE_DIR, in the build
# tree) and clt's program cache: under valgrind the LLVM compiles PoCL would otherwise
# run take hours.
#
# memcheck: --leak-check=full, errors = invalid reads/writes, uses of uninitialised
# values, bad frees and definitely lost blocks; children are traced. Not run, each
# with its reason in the summary: cltrain_test_ckpt_crash (it re-executes itself
# through /proc/self/exe, which under valgrind is valgrind's own tool binary: valgrind
# 3.19 cannot load it, the writer never starts). tests/valgrind.supp suppresses what glibc's loader, the ICD
# loader, PoCL and LLVM do (each entry says why it is not clt's).
#
# Output: BUILD/valgrind/logs/TEST.PID.log (valgrind's logs), BUILD/valgrind/summary.txt:
# one line per test — test result, memcheck errors, definitely lost bytes, seconds.
# Exit status: 0 when no test has a memcheck error, 1 otherwise, 2 on a usage error.
# Takes hours for the whole suite with every device on two cores (see the report in
# the summary); not part of CI. Debian package: valgrind.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$root/build-valgrind" devices="" per_test=3600 only="" exclude="" do_build=1

usage() { sed -n '2,/^set -uo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; }
usage_error() { echo "valgrind-suite: $*" >&2; echo "(--help says more)" >&2; exit 2; }

while [[ $# -gt 0 ]]; do
    case "$1" in
    --build|--devices|--timeout|--tests|--exclude)
        [[ $# -ge 2 && -n "$2" ]] || usage_error "$1 needs a value"
        case "$1" in
        --build) build="$2" ;;
        --devices) devices="$2" ;;
        --timeout) [[ "$2" =~ ^[1-9][0-9]*$ ]] || usage_error "--timeout needs seconds"
                   per_test="$2" ;;
        --tests) only="$2" ;;
        --exclude) exclude="$2" ;;
        esac
        shift 2 ;;
    --no-build) do_build=0; shift ;;
    --help|-h) usage; exit 0 ;;
    *) usage_error "unknown argument '$1'" ;;
    esac
done
command -v valgrind >/dev/null || usage_error "no valgrind (Debian package: valgrind)"
command -v python3 >/dev/null || usage_error "no python3 (it reads ctest's JSON)"
supp="$root/tests/valgrind.supp"

if [[ $do_build -eq 1 ]]; then
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCLT_WERROR=ON >/dev/null &&
        cmake --build "$build" -j "$(nproc)" >/dev/null || { echo "valgrind-suite: build failed" >&2; exit 1; }
fi
build="$(cd "$build" && pwd)" || exit 2
out="$build/valgrind"
rm -rf "$out/logs" "$out/wrap"
mkdir -p "$out/logs" "$out/wrap" "$out/pocl-cache"

vg=(valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite
    --errors-for-leak-kinds=definite --error-exitcode=99 --num-callers=40
    --suppressions="$supp" --gen-suppressions=all --trace-children=yes
    "--trace-children-skip=/bin/*,/usr/bin/*,*/python3*")
# The MPI tests (test_comm_mpi, test_offload_dp_mpi, cltrain's dp tests) run each rank
# under valgrind through mpirun; Open MPI's own file covers its shared-memory transport
# and PMIx, which are not clt's.
ompi_supp=/usr/share/openmpi/openmpi-valgrind.supp
[[ -f "$ompi_supp" ]] && vg+=("--suppressions=$ompi_supp")

# One line per test: NAME <US> WORKDIR <US> ENV (K=V joined by <RS>) <US> ARGV (joined
# by <RS>). The \036 and \037 separators keep spaces in paths and values intact.
list_tests() {
    ctest --test-dir "$build" --show-only=json-v1 | python3 -c '
import json, sys
for t in json.load(sys.stdin)["tests"]:
    if "command" not in t:
        continue
    props = {p["name"]: p["value"] for p in t.get("properties", [])}
    env = props.get("ENVIRONMENT", [])
    wd = props.get("WORKING_DIRECTORY", ".")
    print("\037".join([t["name"], wd, "\036".join(env), "\036".join(t["command"])]))
'
}

# Whether $1 is an ELF program inside the build tree (clt code to check).
is_build_program() {
    [[ "$1" == "$build"/* && -x "$1" && -f "$1" ]] && [[ "$(head -c4 "$1")" == $'\177ELF' ]]
}

# Why test $1 cannot run under valgrind, or nothing.
cannot_run() {
    case "$1" in
    cltrain_test_ckpt_crash) echo "re-executes /proc/self/exe: valgrind's own binary there" ;;
    esac
}

summary="$out/summary.txt"
: >"$summary"
printf '%-40s %-9s %8s %14s %7s\n' test result errors "def. lost (B)" seconds | tee -a "$summary"
bad=0 start=$SECONDS
while IFS=$'\037' read -r name wd envs cmd; do
    [[ -n "$only" && ! "$name" =~ $only ]] && continue
    [[ -n "$exclude" && "$name" =~ $exclude ]] && continue
    reason="$(cannot_run "$name")"
    if [[ -n "$reason" ]]; then
        printf '%-40s %-9s %8s %14s %7s  (%s)\n' "$name" skipped - - - "$reason" | tee -a "$summary"
        continue
    fi
    IFS=$'\036' read -r -a argv <<<"$cmd"
    IFS=$'\036' read -r -a env <<<"$envs"
    env+=("POCL_CACHE_DIR=$out/pocl-cache")
    [[ -n "$devices" ]] && env+=("CLT_TEST_DEVICES=$devices")
    # valgrind 3.19 does not model io_uring: bytes the kernel writes through it look
    # uninitialised (test_buffer, test_checkpoint: clean with pread/pwrite). The NVME
    # tier's pread/pwrite path is checked instead; test_nvme_tier still asks for uring.
    env+=("CLT_NVME_IO=sync")
    log="$out/logs/$name.%p.log"
    if is_build_program "${argv[0]}"; then
        run=("${vg[@]}" "--log-file=$log" "${argv[@]}")
    else
        # A driver script: wrap each build-tree program among its arguments.
        run=("${argv[@]}") wrapped=0
        for i in "${!run[@]}"; do
            if is_build_program "${run[$i]}"; then
                w="$out/wrap/$name.$i"
                printf '#!/bin/sh\nexec %s --log-file=%q %q "$@"\n' "$(printf '%q ' "${vg[@]}")" \
                    "$log" "${run[$i]}" >"$w"
                chmod +x "$w"
                run[$i]="$w" wrapped=1
            fi
        done
        if [[ $wrapped -eq 0 ]]; then
            printf '%-40s %-9s %8s %14s %7s  (runs compilers/cmake only: no clt code)\n' \
                "$name" skipped - - - | tee -a "$summary"
            continue
        fi
    fi
    # Warm the caches without valgrind, then the real run.
    (cd "$wd" && env "${env[@]}" "${argv[@]}") >/dev/null 2>&1 </dev/null
    t0=$SECONDS
    (cd "$wd" && env "${env[@]}" timeout -k 30 "$per_test" "${run[@]}") \
        >"$out/logs/$name.out" 2>&1 </dev/null
    rc=$?
    result=passed
    [[ $rc -ne 0 ]] && result="exit $rc"
    [[ $rc -eq 124 || $rc -eq 137 ]] && result=timeout
    errors=0 lost=0
    for f in "$out/logs/$name".*.log; do
        [[ -f "$f" ]] || continue
        e="$(grep -o 'ERROR SUMMARY: [0-9,]*' "$f" | tail -n1 | tr -dc 0-9)"
        l="$(grep -o 'definitely lost: [0-9,]* bytes' "$f" | tail -n1 | tr -dc 0-9)"
        errors=$((errors + ${e:-0})) lost=$((lost + ${l:-0}))
    done
    [[ $errors -gt 0 || $rc -eq 99 ]] && bad=$((bad + 1))
    printf '%-40s %-9s %8s %14s %7s\n' "$name" "$result" "$errors" "$lost" \
        "$((SECONDS - t0))" | tee -a "$summary"
done < <(list_tests)

echo "$bad test(s) with memcheck errors; $((SECONDS - start)) s in all;" \
     "devices: ${devices:-all}; logs in $out/logs" | tee -a "$summary"
[[ $bad -eq 0 ]]
