#!/usr/bin/env bash
# check_kernels_broken.sh: the portability gate (tools/check-kernels.sh) fails when one
# kernel fails one target, and says which.
#
#   tools/tests/check_kernels_broken.sh
#
# Runs the gate over a temporary copy of kernels_cl/elementwise.cl (and its prelude),
# with one option set, broken two ways:
#   1. for gfx1100 only (a name that only exists under clang's __gfx1100__): the run must
#      exit 1, report FAIL for gfx1100 and name the file, and report ok for every other
#      target — so the failure is that target's, not the copy's;
#   2. with PTX that ptxas rejects (inline assembly clang passes through untouched), where
#      ptxas is installed: every NVIDIA target must fail in the assembler.
# Exit status: 0 when the gate behaved, 1 when not, 77 when the gate cannot run here.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
gate="$root/tools/check-kernels.sh"
work="$(mktemp -d "${TMPDIR:-/tmp}/check-kernels-broken.XXXXXX")"
trap 'rm -rf "$work"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

mkdir -p "$work/kernels"
cp "$root/kernels_cl/dtype.cl" "$root/kernels_cl/elementwise.cl" "$work/kernels/"
echo "elementwise.cl  f32  -DAB_DTYPE=0 -DC_DTYPE=0" >"$work/variants.txt"

# break_with TEXT: elementwise.cl with TEXT after its first line (the prelude line).
break_with() {
    { head -n1 "$root/kernels_cl/elementwise.cl"; printf '%s\n' "$1"
      tail -n +2 "$root/kernels_cl/elementwise.cl"; } >"$work/kernels/elementwise.cl"
}

# gate OUT TARGETS: runs the gate over the copy; its output goes to $work/OUT.
gate() {
    bash "$gate" --kernel-dir "$work/kernels" --variants "$work/variants.txt" \
        --targets "$2" --jobs 2 >"$work/$1" 2>&1
}

# ---- 1. one target ------------------------------------------------------------------
break_with '#if defined(__gfx1100__)
__kernel void broken_for_gfx1100(__global float *x) { x[0] = no_such_function(x[0]); }
#endif'
gate one sm_70,sm_86,sm_89,gfx906,gfx1030,gfx1100,spirv
rc=$?
[[ $rc -eq 77 ]] && { cat "$work/one"; echo "skipped: the gate has no compilers here"; exit 77; }
cat "$work/one"
[[ $rc -eq 1 ]] || fail "a kernel broken for gfx1100 gave exit status $rc, not 1"
grep -q -E '^elementwise\.cl +f32 +gfx1100 +FAIL +.*no_such_function' "$work/one" ||
    fail "no FAIL row naming the error for gfx1100"
grep -q -E '^FAIL: elementwise\.cl \(f32\) for gfx1100' "$work/one" ||
    fail "the failure is not listed at the end of the report"
for target in sm_70 sm_86 sm_89 gfx906 gfx1030 spirv; do
    grep -q -E "^elementwise\.cl +f32 +$target +(ok|skipped) " "$work/one" ||
        fail "$target should not fail: only gfx1100 is broken"
done
grep -q -E ' 1 failed,' "$work/one" || fail "the summary does not count exactly one failure"

# ---- 2. ptxas -----------------------------------------------------------------------
ptxas="${PTXAS:-$(command -v ptxas || command -v /usr/local/cuda/bin/ptxas || true)}"
if [[ -z "$ptxas" || ! -x "$ptxas" ]]; then
    echo "no ptxas: the assembler's part is not checked here"
    exit 0
fi
break_with '#if defined(__NVPTX__)
__kernel void broken_for_ptxas(__global float *x) { __asm__ volatile("not.an.instruction;"); }
#endif'
gate two nvidia
rc=$?
cat "$work/two"
[[ $rc -eq 1 ]] || fail "PTX that ptxas rejects gave exit status $rc, not 1"
for target in sm_70 sm_86 sm_89; do
    grep -q -E "^elementwise\.cl +f32 +$target +FAIL +.*(ptxas|error)" "$work/two" ||
        fail "$target should fail in ptxas"
done
echo "the gate fails a kernel broken for one target, and says which"
