#!/usr/bin/env bash
# check-kernels.sh: compiles every OpenCL kernel of clt for the real targets, with the
# build options the OpenCL driver uses, to show that each kernel builds for vendors
# that CI has no hardware for.
#
#   tools/check-kernels.sh [--targets LIST] [--markdown FILE] [--jobs N] [--keep DIR]
#                          [--kernel-dir DIR] [--variants FILE] [--help]
#
# For every kernels_cl/*.cl and every option set of it in tools/kernel-variants.txt,
# and every target (all of them unless --targets names some):
#   sm_70, sm_86, sm_89  clang → PTX, then ptxas assembles it and reports registers and
#                  spills. CUDA 13's ptxas dropped sm_70: sm_70 PTX is assembled for
#                  sm_75. clang-15 stops at sm_86: sm_89 assembles the sm_86 PTX for
#                  sm_89 (what a driver does with PTX older than its GPU), so sm_89
#                  costs one ptxas run, not another clang compile. The report says both.
#                  Without ptxas the PTX is still generated (clang's NVPTX back end
#                  must accept the kernel) and the report says it was not assembled.
#   gfx906, gfx1030, gfx1100  clang → AMDGPU assembly; VGPRs, SGPRs, spills and scratch
#                  come from the code object's metadata
#   spirv          clang -O0 → LLVM bitcode → llvm-spirv (SPIR-V 1.0) → spirv-val for
#                  OpenCL 1.2 (-O1 and above emit `freeze`, which llvm-spirv-15 cannot
#                  translate)
# OpenCL builtins (get_local_id, barrier, vload_half ...) come from libclc's bitcode,
# linked in for PTX and AMDGPU; SPIR-V keeps them as OpenCL.std instructions.
#
# The guarantee is every kernel file × every option set × every target: no target
# checks a sample. To fit CI's time limits the ctest runs it as one test per target
# family (tool_check_kernels_nvidia, _amd, _spirv; --targets nvidia|amd|spirv), which
# ctest -j spreads over the cores; tool_check_kernels_broken checks that a kernel
# broken for one target fails the run.
#
#   --targets LIST     comma-separated targets or families (nvidia, amd, spirv)
#   --markdown FILE    also writes the table as a Markdown page (docs/portability.md)
#   --jobs N           compiles at once (default: the number of cores)
#   --keep DIR         keeps the PTX, assembly, SPIR-V and logs in DIR
#   --kernel-dir DIR   the kernel sources (default kernels_cl/); prelude files are
#                      looked up there too
#   --variants FILE    the option sets (default tools/kernel-variants.txt)
#
# Prints a table (file × variant × target → ok/FAIL, registers, spills) on stdout.
# Exit status: 0 when everything that could be checked compiled, 1 when anything
# failed, 2 on a usage error, 77 when nothing could be checked (no clang, no target).
# A target whose tools are missing is reported as skipped.
#
# Environment: CLANG, PTXAS, LLVM_SPIRV, SPIRV_VAL (tool paths; a path that does not
# exist skips what needs the tool), CLC_DIR (libclc's bitcode, default /usr/lib/clc).
# Debian packages: clang-15 llvm-spirv-15 spirv-tools libclc-15; ptxas from the CUDA
# toolkit (not in Debian's main archive, so CI checks NVIDIA without it: PTX only).
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
kernel_dir="$root/kernels_cl"
variants_file="$root/tools/kernel-variants.txt"
all_targets=(sm_70 sm_86 sm_89 gfx906 gfx1030 gfx1100 spirv)
declare -A family_of=([sm_70]=nvidia [sm_86]=nvidia [sm_89]=nvidia [gfx906]=amd
                      [gfx1030]=amd [gfx1100]=amd [spirv]=spirv)
# The five storage combinations (AB_DTYPE, C_DTYPE) that @dtypes expands to, and the
# three of ops whose tensors share one dtype (@dtype).
dtype_combos=("f32:0:0" "f16:1:0" "f16>f16:1:1" "bf16:2:0" "bf16>bf16:2:2")
one_dtype_combos=("f32:0:0" "f16:1:1" "bf16:2:2")
sep=$'\037' # field separator of the internal lists (a tab would merge empty fields)

usage() {
    sed -n '2,/^set -uo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
}
usage_error() {
    echo "check-kernels: $*" >&2
    echo "usage: tools/check-kernels.sh [--targets LIST] [--markdown FILE] [--jobs N]" \
         "[--keep DIR] [--kernel-dir DIR] [--variants FILE] (--help says more)" >&2
    exit 2
}

# Sets targets to those LIST (comma-separated targets and families) names, in report
# order.
select_targets() {
    local -A wanted=()
    local name t known
    for name in ${1//,/ }; do
        known=0
        for t in "${all_targets[@]}"; do
            [[ "$t" == "$name" || "${family_of[$t]}" == "$name" ]] && { wanted[$t]=1; known=1; }
        done
        [[ $known -eq 1 ]] || usage_error "unknown target '$name' (targets: ${all_targets[*]};" \
                                          "families: nvidia amd spirv)"
    done
    targets=()
    for t in "${all_targets[@]}"; do [[ -n "${wanted[$t]:-}" ]] && targets+=("$t"); done
    [[ ${#targets[@]} -gt 0 ]] || usage_error "--targets names no target"
}

markdown="" keep="" jobs="$(nproc 2>/dev/null || echo 2)" target_list=""
while [[ $# -gt 0 ]]; do
    case "$1" in
    --markdown|--keep|--targets|--kernel-dir|--variants)
        [[ $# -ge 2 && -n "$2" ]] || usage_error "$1 needs a value"
        case "$1" in
        --markdown) markdown="$2" ;;
        --keep) keep="$2" ;;
        --targets) target_list="$2" ;;
        --kernel-dir) kernel_dir="$2" ;;
        --variants) variants_file="$2" ;;
        esac
        shift 2 ;;
    --markdown=*) markdown="${1#*=}"; shift ;;
    --targets=*) target_list="${1#*=}"; shift ;;
    --jobs) [[ $# -ge 2 && "$2" =~ ^[1-9][0-9]*$ ]] || usage_error "--jobs needs a positive number"
            jobs="$2"; shift 2 ;;
    --help|-h) usage; exit 0 ;;
    *) usage_error "unknown argument '$1'" ;;
    esac
done
[[ -d "$kernel_dir" ]] || usage_error "no kernel directory '$kernel_dir'"
kernel_dir="$(cd "$kernel_dir" && pwd)"
[[ -f "$variants_file" ]] || usage_error "no variants file '$variants_file'"
targets=("${all_targets[@]}")
[[ -n "$target_list" ]] && select_targets "$target_list"

# ---- tools ------------------------------------------------------------------------
# tool VAR CANDIDATES...: the path of $VAR when the environment sets it (and "" when
# that does not exist: a way to switch a target off), else of the first candidate
# found, else "".
tool() {
    local override="${!1:-}" t
    shift
    [[ -n "$override" ]] && set -- "$override"
    for t in "$@"; do
        command -v "$t" >/dev/null 2>&1 && { command -v "$t"; return; }
    done
    echo ""
}
clang="$(tool CLANG clang-15 clang)"
ptxas="$(tool PTXAS ptxas /usr/local/cuda/bin/ptxas)"
llvm_spirv="$(tool LLVM_SPIRV llvm-spirv-15 llvm-spirv)"
spirv_val="$(tool SPIRV_VAL spirv-val)"
clc_dir="${CLC_DIR:-/usr/lib/clc}"
clc_nvptx="$clc_dir/nvptx64--nvidiacl.bc"
clc_amdgcn="$clc_dir/amdgcn--amdhsa.bc"

# Why a target cannot be checked here, or "" when it can.
missing_for() {
    [[ -z "$clang" ]] && { echo "no clang-15"; return; }
    case "$1" in
    sm_*) [[ -f "$clc_nvptx" ]] || { echo "no libclc ($clc_nvptx)"; return; } ;;
    gfx*) [[ -f "$clc_amdgcn" ]] || { echo "no libclc ($clc_amdgcn)"; return; } ;;
    spirv) [[ -n "$llvm_spirv" ]] || { echo "no llvm-spirv-15"; return; }
           [[ -n "$spirv_val" ]] || { echo "no spirv-val"; return; } ;;
    esac
    echo ""
}

# The architecture clang makes PTX for, for NVIDIA target $1: the target itself when
# clang knows it, else the newest one clang knows below it (clang-15: sm_86 for sm_89).
ptx_arch_for() {
    local t
    for t in "$1" sm_86 sm_80 sm_75 sm_70; do
        [[ "${t#sm_}" -le "${1#sm_}" ]] || continue
        "$clang" -x cl -cl-std=CL1.2 -target nvptx64-unknown-nvidiacl -march="$t" -E \
            /dev/null -o /dev/null 2>/dev/null && { echo "$t"; return; }
    done
    echo "$1" # none known: the compile itself will fail and say why
}

# assemble_ptx PTX ARCH OUT: assembles PTX for architecture ARCH with `ptxas -v`; its
# output goes to OUT.ptxas, the code to OUT.cubin. CUDA 13's ptxas no longer knows
# sm_70 (nor anything below sm_75): then the PTX, still made for sm_70, is assembled
# for sm_75. Prints the architecture used.
assemble_ptx() {
    local ptx="$1" arch="$2" out="$3"
    if ! "$ptxas" -arch="$arch" -v "$ptx" -o "$out.cubin" >"$out.ptxas" 2>&1 &&
       grep -q "Value '$arch' is not defined" "$out.ptxas"; then
        arch=sm_75
        "$ptxas" -arch="$arch" -v "$ptx" -o "$out.cubin" >"$out.ptxas" 2>&1 || return 1
    elif grep -q -E 'error|fatal' "$out.ptxas"; then
        return 1
    fi
    echo "$arch"
}

# ---- preludes ------------------------------------------------------------------------
# A source whose first line is "/* clt-prelude: NAME.cl [NAME2.cl ...] */" is built by
# the driver (backends/opencl/cl_program.c) behind those kernels_cl files; here it is
# compiled with -include for each, which keeps its line numbers. Prints the names, or
# nothing.
prelude_of() {
    local first
    IFS= read -r first <"$1" || true
    [[ "$first" =~ ^/\*\ clt-prelude:\ ([A-Za-z0-9_.\ -]+)\ \*/ ]] && echo "${BASH_REMATCH[1]}"
}

# ---- the work list ----------------------------------------------------------------
# One line per (file, variant, options) in the order of the report. Files with no
# entry in the table are checked once with their defaults.
work_list() {
    local file variant options f name combo label ab c
    local -A listed=() preludes=()
    for f in "$kernel_dir"/*.cl; do
        [[ -f "$f" ]] || continue
        for name in $(prelude_of "$f"); do preludes[$name]=1; done
    done
    if [[ -f "$variants_file" ]]; then
        while read -r file variant options; do
            [[ -z "$file" || "$file" == \#* ]] && continue
            [[ -f "$kernel_dir/$file" ]] || continue # listed ahead of the kernel's arrival
            listed[$file]=1
            if [[ "$options" == *@dtypes* ]]; then
                for combo in "${dtype_combos[@]}"; do
                    IFS=: read -r label ab c <<<"$combo"
                    printf '%s\037%s %s\037%s\n' "$file" "$variant" "$label" \
                        "${options//@dtypes/-DAB_DTYPE=$ab -DC_DTYPE=$c}"
                done
            elif [[ "$options" == *@dtype* ]]; then
                for combo in "${one_dtype_combos[@]}"; do
                    IFS=: read -r label ab c <<<"$combo"
                    printf '%s\037%s %s\037%s\n' "$file" "$variant" "$label" \
                        "${options//@dtype/-DAB_DTYPE=$ab -DC_DTYPE=$c}"
                done
            else
                printf '%s\037%s\037%s\n' "$file" "$variant" "$options"
            fi
        done <"$variants_file"
    fi
    for f in "$kernel_dir"/*.cl; do
        [[ -f "$f" ]] || continue
        name="$(basename "$f")"
        [[ -n "${listed[$name]:-}" || -n "${preludes[$name]:-}" ]] || printf '%s\037%s\037%s\n' "$name" "defaults*" ""
    done
}

# ---- one check ----------------------------------------------------------------------
# check_one ID FILE OPTIONS TARGET: compiles and writes "STATUS<TAB>DETAIL<TAB>NOTE" to
# $work/ID.res, and the tools' output to $work/ID.log.
common_flags=(-cl-std=CL1.2 -Xclang -finclude-default-header -I "$kernel_dir")

# Registers and spills of each entry function from `ptxas -v` output (stdin):
# "name: 38 regs, 0 B spilled" joined by "; ".
parse_ptxas() {
    awk '
        /Compiling entry function/ { match($0, /\047[^\047]+\047/); entry[substr($0, RSTART + 1, RLENGTH - 2)] = 1 }
        /Function properties for/ { cur = $NF; gsub(/\047/, "", cur) }
        /bytes spill stores/ { st[cur] = $5; ld[cur] = $9 }
        /Used [0-9]+ registers/ { for (i = 1; i <= NF; i++) if ($i == "Used") regs[cur] = $(i + 1); order[++n] = cur }
        END {
            out = ""
            for (i = 1; i <= n; i++) {
                k = order[i]; if (!(k in entry)) continue
                sp = (st[k] + ld[k] > 0) ? st[k] "+" ld[k] " B spilled" : "0 spills"
                out = out (out == "" ? "" : "; ") k ": " regs[k] " regs, " sp
            }
            print out
        }'
}

# VGPRs, SGPRs, spills and scratch of each kernel from the AMDHSA metadata in the
# assembly (stdin): "name: 35 VGPR, 54 SGPR, 0 spills, 0 B scratch" joined by "; ".
parse_amdgpu() {
    awk '
        function flush() {
            if (name == "") return
            sp = v["vgpr_spill_count"] + v["sgpr_spill_count"]
            s = name ": " v["vgpr_count"] " VGPR, " v["sgpr_count"] " SGPR, "
            s = s (sp > 0 ? v["vgpr_spill_count"] "+" v["sgpr_spill_count"] " spilled (V+S)" : "0 spills")
            s = s ", " v["private_segment_fixed_size"] " B scratch"
            out = out (out == "" ? "" : "; ") s
            name = ""; delete v
        }
        /^amdhsa\.kernels:/ { inmeta = 1; next }
        inmeta && /^[^ ]/ { flush(); inmeta = 0 }
        inmeta && /^  - \./ { flush() }
        inmeta && /^    \.[a-z_]+:/ {
            key = $1; sub(/^\./, "", key); sub(/:$/, "", key)
            if (key == "name") name = $2; else v[key] = $2
        }
        END { flush(); print out }'
}

# finish ID TARGET STATUS DETAIL NOTE: the result of one target's check, from its log
# $work/ID.TARGET.log, written to $work/ID.TARGET.res as "STATUS<US>DETAIL<US>NOTE".
finish() {
    local id="$1" target="$2" status="$3" detail="$4" note="$5"
    local log="$work/$id.$target.log"
    if [[ "$status" == ok ]] && grep -q 'warning:' "$log"; then
        note="${note:+$note; }$(grep -c 'warning:' "$log") compiler warning(s), see --keep"
    fi
    if [[ "$status" == FAIL ]]; then
        # The first error line says most; the whole log is kept with --keep.
        detail="$(grep -m1 -E 'error|fatal|Unresolved|invalid|Invalid' "$log" | cut -c1-160)"
        [[ -z "$detail" ]] && detail="$(head -n1 "$log" | cut -c1-160)"
        detail="${detail//$work\//}" # paths relative to the kernel and work directories
        detail="${detail//$kernel_dir\//}"
        detail="${detail//$root\//}"
    fi
    printf '%s\037%s\037%s\n' "$status" "$detail" "$note" >"$work/$id.$target.res"
}

# check_unit ID FILE OPTIONS UNIT TARGET...: compiles FILE with OPTIONS once for UNIT
# (ptx:ARCH, gfxN or spirv) and checks the result for each TARGET that shares it (the
# NVIDIA targets whose PTX is made for the same architecture).
check_unit() {
    local id="$1" file="$2" options="$3" unit="$4"
    shift 4
    local src="$kernel_dir/$file" base="$work/$id.$unit"
    base="${base//:/-}"
    local -a opts=()
    [[ -n "$options" ]] && read -r -a opts <<<"$options"
    local prelude
    local includes=()
    for prelude in $(prelude_of "$src"); do includes+=(-include "$kernel_dir/$prelude"); done
    opts=("${includes[@]}" "${opts[@]}")
    local target arch status note log
    case "$unit" in
    ptx:*)
        local march="${unit#ptx:}" compiled=1
        "$clang" "${common_flags[@]}" -target nvptx64-unknown-nvidiacl -march="$march" \
            -O2 -S -Xclang -mlink-builtin-bitcode -Xclang "$clc_nvptx" "${opts[@]}" \
            "$src" -o "$base.ptx" >"$base.clang.log" 2>&1 || compiled=0
        for target in "$@"; do
            log="$work/$id.$target.log" status=ok note=""
            cp "$base.clang.log" "$log"
            [[ "$march" != "$target" ]] && note="PTX for $march (clang has no $target)"
            if [[ $compiled -eq 0 ]]; then
                finish "$id" "$target" FAIL "" ""
            elif [[ -z "$ptxas" ]]; then
                finish "$id" "$target" ok "PTX generated; not assembled (no ptxas here)" "$note"
            elif arch="$(assemble_ptx "$base.ptx" "$target" "$base.$target")"; then
                cat "$base.$target.ptxas" >>"$log"
                [[ "$arch" != "$target" ]] &&
                    note="${note:+$note; }assembled with ptxas -arch=$arch: this ptxas has no $target"
                [[ "$march" != "$target" && "$arch" == "$target" ]] &&
                    note="${note}, assembled for $target"
                finish "$id" "$target" ok "$(parse_ptxas <"$base.$target.ptxas")" "$note"
            else
                cat "$base.$target.ptxas" >>"$log"
                finish "$id" "$target" FAIL "" ""
            fi
        done
        ;;
    gfx*)
        target="$1" status=ok
        "$clang" "${common_flags[@]}" -target amdgcn-unknown-amdhsa -mcpu="$target" \
            -nogpulib -O2 -S -Xclang -mlink-builtin-bitcode -Xclang "$clc_amdgcn" \
            "${opts[@]}" "$src" -o "$base.s" >"$work/$id.$target.log" 2>&1 || status=FAIL
        finish "$id" "$target" "$status" \
            "$([[ $status == ok ]] && parse_amdgpu <"$base.s")" ""
        ;;
    spirv)
        target="$1" status=ok
        {
            "$clang" "${common_flags[@]}" -target spir64 -O0 -emit-llvm -c "${opts[@]}" \
                "$src" -o "$base.bc" &&
            "$llvm_spirv" --spirv-max-version=1.0 "$base.bc" -o "$base.spv" &&
            "$spirv_val" --target-env opencl1.2 "$base.spv"
        } >"$work/$id.$target.log" 2>&1 || status=FAIL
        finish "$id" "$target" "$status" "valid SPIR-V 1.0 (OpenCL 1.2)" ""
        ;;
    esac
}

# ---- run ----------------------------------------------------------------------------
if [[ -n "$keep" ]]; then
    mkdir -p "$keep" && work="$(cd "$keep" && pwd)"
else
    work="$(mktemp -d "${TMPDIR:-/tmp}/check-kernels.XXXXXX")"
    trap 'rm -rf "$work"' EXIT
fi

mapfile -t items < <(work_list)
if [[ ${#items[@]} -eq 0 ]]; then
    echo "check-kernels: no kernels in $kernel_dir" >&2
    exit 77
fi

# Which compile serves each target that can be checked here (unit_of), and the units
# in report order, each with the targets it serves.
declare -A skip_reason=() unit_of=() unit_targets=()
units=()
runnable=0
for target in "${targets[@]}"; do
    skip_reason[$target]="$(missing_for "$target")"
    [[ -n "${skip_reason[$target]}" ]] && continue
    runnable=$((runnable + 1))
    case "$target" in
    sm_*) unit="ptx:$(ptx_arch_for "$target")" ;;
    *) unit="$target" ;;
    esac
    unit_of[$target]="$unit"
    [[ -z "${unit_targets[$unit]:-}" ]] && units+=("$unit")
    unit_targets[$unit]="${unit_targets[$unit]:-} $target"
done

start=$SECONDS
i=0
for item in "${items[@]}"; do
    IFS=$sep read -r file variant options <<<"$item"
    i=$((i + 1))
    for unit in "${units[@]}"; do
        # At most $jobs compiles at once.
        while [[ $(jobs -rp | wc -l) -ge $jobs ]]; do wait -n; done
        # shellcheck disable=SC2086 # the unit's targets are words
        check_unit "$i" "$file" "$options" "$unit" ${unit_targets[$unit]} &
    done
done
wait

# ---- report -------------------------------------------------------------------------
failed=0 passed=0 skipped=0
rows=() # file, variant, options, target, status, detail, note — $sep-separated
i=0
for item in "${items[@]}"; do
    IFS=$sep read -r file variant options <<<"$item"
    i=$((i + 1))
    for target in "${targets[@]}"; do
        if [[ -n "${skip_reason[$target]}" ]]; then
            rows+=("$file"$sep"$variant"$sep"$options"$sep"$target"$sep"skipped"$sep"${skip_reason[$target]}"$sep)
            skipped=$((skipped + 1))
            continue
        fi
        IFS=$sep read -r status detail note <"$work/$i.$target.res" ||
            { status="FAIL"; detail="no result"; note=""; }
        [[ "$status" == ok ]] && passed=$((passed + 1)) || failed=$((failed + 1))
        rows+=("$file"$sep"$variant"$sep"$options"$sep"$target"$sep"$status"$sep"$detail"$sep"$note")
    done
done

print_text() {
    local row file variant options target status detail note
    printf '%-14s %-22s %-8s %-7s %s\n' "kernel file" "variant" "target" "result" \
        "registers / spills (per kernel)"
    for row in "${rows[@]}"; do
        IFS=$sep read -r file variant options target status detail note <<<"$row"
        printf '%-14s %-22s %-8s %-7s %s%s\n' "$file" "$variant" "$target" "$status" \
            "$detail" "${note:+  [$note]}"
    done
}

# print_markdown [spills]: the table, or only its rows with spills or scratch.
print_markdown() {
    local row file variant options target status detail note
    echo "| kernel file | variant | options | target | result | registers / spills (per kernel) | note |"
    echo "|---|---|---|---|---|---|---|"
    for row in "${rows[@]}"; do
        IFS=$sep read -r file variant options target status detail note <<<"$row"
        [[ "${1:-}" == spills && ! "$detail" =~ (spilled|[1-9][0-9]*\ B\ scratch) ]] && continue
        printf '| %s | %s | `%s` | %s | %s | %s | %s |\n' "$file" "${variant//>/→}" \
            "${options:-(none)}" "$target" "$status" "${detail//|/\\|}" "${note//|/\\|}"
    done
}

# The failures again, last, where a CI log shows them.
print_failures() {
    local row file variant options target status detail note
    for row in "${rows[@]}"; do
        IFS=$sep read -r file variant options target status detail note <<<"$row"
        [[ "$status" == FAIL ]] || continue
        printf 'FAIL: %s (%s) for %s: %s\n' "$file" "$variant" "$target" "$detail"
    done
}

summary="checked ${passed} ok, ${failed} failed, ${skipped} skipped for ${targets[*]} ($((SECONDS - start)) s, ${jobs} jobs)"
print_text
echo
grep -q 'defaults\*' <<<"${items[*]}" &&
    echo "* not in tools/kernel-variants.txt: compiled once with the file's own defaults"
print_failures
echo "$summary"
echo "tools: clang=${clang:-none} ptxas=${ptxas:-none} llvm-spirv=${llvm_spirv:-none}" \
     "spirv-val=${spirv_val:-none} libclc=${clc_dir}"

if [[ -n "$markdown" ]]; then
    {
        echo "<!-- generated by tools/check-kernels.sh --markdown; do not edit by hand -->"
        echo "# Kernel portability"
        echo
        echo "Every OpenCL kernel in \`kernels_cl/\`, with every set of build options the driver"
        echo "uses (\`tools/kernel-variants.txt\`), compiled by clang for NVIDIA PTX (sm_70, sm_86,"
        echo "sm_89; assembled by \`ptxas\`, which reports registers and spills), AMD (gfx906,"
        echo "gfx1030, gfx1100; VGPRs, SGPRs, spills and scratch from the code object metadata) and"
        echo "SPIR-V (translated by \`llvm-spirv-15\`, validated by \`spirv-val\`). A kernel that fails"
        echo "any target fails the check."
        echo
        echo "clang-15 makes PTX up to sm_86: the sm_89 rows are the sm_86 PTX assembled for sm_89,"
        echo "as an sm_89 driver would JIT it. CUDA 13's \`ptxas\` has no sm_70: the sm_70 PTX is"
        echo "assembled for sm_75. Registers are per work-item (NVIDIA: 32-bit registers per"
        echo "thread; AMD: VGPRs per lane, SGPRs per wave); spills are bytes stored+loaded"
        echo "(NVIDIA) or registers spilled, vector+scalar (AMD); scratch is private memory per"
        echo "work-item (AMD)."
        echo
        echo "Run it with \`tools/check-kernels.sh\` (CI runs it as the ctests"
        echo "\`tool_check_kernels_nvidia\`, \`_amd\` and \`_spirv\` when the compilers are"
        echo "installed; without \`ptxas\`, as in CI, NVIDIA is checked to PTX only);"
        echo "\`tools/check-kernels.sh --markdown docs/portability.md\` rewrites this page,"
        echo "\`--keep DIR\` keeps the PTX, assembly and SPIR-V."
        echo
        echo "## Kernels that spill or use scratch"
        echo
        print_markdown spills
        echo
        echo "## Every kernel, option set and target"
        echo
        print_markdown
        echo
        echo "$summary. Tools: \`$(basename "${clang:-none}")\`" \
             "$([[ -n "$clang" ]] && "$clang" --version | head -n1 | sed 's/ (.*//')," \
             "\`ptxas\` $([[ -n "$ptxas" ]] && "$ptxas" --version | grep -o 'V[0-9][0-9.]*' | head -n1)," \
             "\`$(basename "${llvm_spirv:-none}")\`, \`spirv-val\`, libclc from \`${clc_dir}\`."
    } >"$markdown" || { echo "check-kernels: cannot write $markdown" >&2; exit 1; }
fi

if [[ $runnable -eq 0 || $((passed + failed)) -eq 0 ]]; then
    echo "check-kernels: nothing could be checked (missing tools)" >&2
    exit 77
fi
[[ $failed -eq 0 ]]
