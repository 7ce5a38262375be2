#!/usr/bin/env python3
"""Checks clt-bench's command-line contract from the outside.

usage: check_clt_bench.py json|usage-error PATH/TO/clt-bench

json         `gemm --device host --shape 64x48x32 --repeat 2 --json` exits 0 and stdout
             is exactly one JSON document with one row per dtype, clt's medians and
             samples, and a passing correctness check.
usage-error  an unknown benchmark, an unknown flag and a bad --shape exit 2 naming what
             was wrong; a benchmark of a later version exits 2 saying it is not
             available yet.
"""
import json
import sys

from toolcheck import fail, run


def check_json(binary):
    result = run(binary, "gemm", "--device", "host", "--shape", "64x48x32", "--repeat", "2",
                 "--json")
    if result.returncode != 0:
        fail("clt-bench gemm --json did not exit 0", result)
    try:
        doc = json.loads(result.stdout)  # rejects anything after the one document
    except json.JSONDecodeError as e:
        fail(f"stdout is not one JSON document: {e}", result)
    for key in ("tool", "clt_version", "device", "peers", "rows", "check", "error"):
        if key not in doc:
            fail(f"top-level key {key!r} missing", result)
    if doc["device"]["name"] != "host":
        fail("the run was not on the host device", result)
    rows = doc["rows"]
    if sorted(r["dtype"] for r in rows) != ["bf16", "f16", "f32"]:
        fail(f"expected one row per dtype, got {[r['dtype'] for r in rows]}", result)
    for r in rows:
        clt = r["clt"]
        if not clt["ran"] or len(clt["samples_seconds"]) != 2 or not clt["median_gflops"]:
            fail(f"row {r['shape']} {r['dtype']}: clt did not run twice", result)
        for peer in ("cblas", "clblast"):
            if r[peer]["ran"] is False and not r[peer]["note"]:
                fail(f"row {r['dtype']}: {peer} did not run and says not why", result)
        if set(r["ratios"]) != {"clt_over_cblas", "clt_over_clblast", "clt_over_clt_f32"}:
            fail(f"row {r['dtype']}: ratios {sorted(r['ratios'])}", result)
    check = doc["check"]
    if check is None or not check["ok"]:
        fail("the correctness check did not run or failed", result)
    print(f"ok: {len(rows)} rows, check {check['max_rel_error']:.2e} vs {check['reference']}")


def expect_usage_error(binary, args, must_name):
    result = run(binary, *args)
    if result.returncode != 2:
        fail(f"{args} should exit 2", result)
    if must_name not in result.stderr:
        fail(f"stderr for {args} should name {must_name!r}", result)
    if result.stdout:
        fail(f"{args}: a usage error should print nothing on stdout", result)


def check_usage_error(binary):
    expect_usage_error(binary, ["no-such-benchmark"], "no-such-benchmark")
    expect_usage_error(binary, ["gemm", "--no-such-flag"], "--no-such-flag")
    expect_usage_error(binary, ["gemm", "--shape", "12x"], "--shape")
    expect_usage_error(binary, ["gemm", "--dtype", "f64"], "--dtype")
    expect_usage_error(binary, ["gemm", "--repeat", "0"], "--repeat")
    expect_usage_error(binary, ["attention"], "not available yet")
    print("ok: usage errors exit 2")


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("json", "usage-error"):
        print(__doc__, file=sys.stderr)
        return 2
    {"json": check_json, "usage-error": check_usage_error}[sys.argv[1]](sys.argv[2])
    return 0


if __name__ == "__main__":
    sys.exit(main())
