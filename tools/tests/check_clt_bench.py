#!/usr/bin/env python3
"""Checks clt-bench's command-line contract from the outside.

usage: check_clt_bench.py CHECK PATH/TO/clt-bench

json            `gemm --device host --shape 64x48x32 --repeat 2 --json` exits 0 and stdout
                is exactly one JSON document with one row per dtype, clt's medians and
                samples, and a passing correctness check.
attention-json  `attention` on a tiny problem, f32/f16/bf16, on the host: one JSON
                document with a row per length and dtype, clt's fwd, bwd and fwd+bwd
                medians, its peak memory, and the naive peer absent with a reason; then,
                where an OpenCL device opens, the same against the naive peer, whose
                ratios and memory are there and whose check against clt passes.
softmax-json    `softmax` on two tiny shapes, in every dtype on the host, then in f32 on
                an OpenCL device where one opens: two-pass, three-pass and the copy
                measured, GB/s and ratios, and the f32 checks passing.
optim-json      `optim` on 100k parameters on the host: host AdamW f32/q8, the triad and
                the scalar loop measured with fractions of the roofline; device rows
                skipped; q8 state bytes 2.03125 per parameter.
offload-json    `offload` on 8 MiB on the host, in the test's own directory: raw O_DIRECT
                write and read and the NVME tier's four rows measured with GB/s and
                ratios over raw, the directory and file system named, the tier's own
                account of its I/O, the bytes checked; no file left in the directory.
usage-error     an unknown benchmark, an unknown flag, a bad --shape, --seq, --dim,
                --rows/--cols, --causal/--no-causal or offload's --size exit 2 naming
                what was wrong.
"""
import json
import os
import sys
import tempfile

from toolcheck import fail, run


def load_document(result, what):
    """The one JSON document on stdout; fails the check otherwise."""
    try:
        return json.loads(result.stdout)  # rejects anything after the one document
    except json.JSONDecodeError as e:
        fail(f"{what}: stdout is not one JSON document: {e}", result)


def expect_keys(result, doc, specific):
    """The keys every op benchmark's document has, and the `specific` ones."""
    for key in ("tool", "benchmark", "clt_version", "device", "repeat", "peers", "rows",
                "error") + specific:
        if key not in doc:
            fail(f"top-level key {key!r} missing", result)


def run_on_host(binary, args):
    """Runs `args` on the host in every dtype: (result, document); fails unless it exits
    0 with one JSON document."""
    result = run(binary, *args, "--device", "host", "--dtype", "all")
    if result.returncode != 0:
        fail(f"clt-bench {args[0]} --device host --json did not exit 0", result)
    return result, load_document(result, f"{args[0]} on the host")


def run_on_opencl(binary, args):
    """Runs `args` on opencl:0: (result, document) when it exits 0, (result, None) where
    there is no OpenCL device; fails the check otherwise."""
    result = run(binary, *args, "--device", "opencl:0")
    doc = load_document(result, f"{args[0]} on opencl:0")
    if (doc["error"] or "").startswith("cannot open"):
        print(f"ok: no OpenCL device: {args[0]} measured on the host only")
        return result, None
    if result.returncode != 0:
        fail(f"clt-bench {args[0]} --device opencl:0 --json did not exit 0", result)
    return result, doc


def check_json(binary):
    result = run(binary, "gemm", "--device", "host", "--shape", "64x48x32", "--repeat", "2",
                 "--json")
    if result.returncode != 0:
        fail("clt-bench gemm --json did not exit 0", result)
    doc = load_document(result, "gemm")
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


def check_result(result, what, r, rate_key):
    """Result `r` ran `--repeat 2` times with a positive median rate."""
    if not r["ran"] or len(r["samples_seconds"]) != 2 or not r[rate_key]:
        fail(f"{what} did not run twice: {r['note']}", result)


ATTENTION_TINY = ["attention", "--batch", "1", "--heads", "2", "--dim", "32", "--seq", "64",
                  "--seq", "48", "--repeat", "2", "--json"]


def check_attention_rows(result, doc, dtypes):
    rows = doc["rows"]
    if [(r["seq"], r["dtype"]) for r in rows] != [(t, d) for t in (64, 48) for d in dtypes]:
        fail(f"rows {[(r['seq'], r['dtype']) for r in rows]}", result)
    for r in rows:
        for part in ("fwd", "bwd", "fwd_bwd"):
            check_result(result, f"T={r['seq']} {r['dtype']} clt {part}", r["clt"][part],
                         "median_gflops")
        mem = r["memory"]
        if mem["clt_peak_bytes"] < mem["clt_tensor_bytes"] or mem["clt_tensor_bytes"] <= 0:
            fail(f"row {r['seq']} {r['dtype']}: memory {mem}", result)
        if mem["naive_tt_bytes"] != 2 * 2 * r["seq"] * r["seq"] * 4:
            fail(f"row {r['seq']}: naive T*T bytes {mem['naive_tt_bytes']}", result)
        if set(r["ratios"]) != {"clt_over_naive_fwd", "clt_over_naive_bwd",
                                "clt_over_naive_fwd_bwd"}:
            fail(f"row {r['seq']} {r['dtype']}: ratios {sorted(r['ratios'])}", result)
    return rows


def check_attention_json(binary):
    result, doc = run_on_host(binary, ATTENTION_TINY)
    expect_keys(result, doc, ("problem", "flop_model"))
    if doc["benchmark"] != "attention" or doc["device"]["name"] != "host":
        fail("not an attention run on the host", result)
    rows = check_attention_rows(result, doc, ["f32", "f16", "bf16"])
    for r in rows:
        if r["naive"]["fwd"]["ran"] or not r["naive"]["fwd"]["note"]:
            fail("the naive peer ran on the host, or says not why it did not", result)
    print(f"ok: attention on the host, {len(rows)} rows")

    result, doc = run_on_opencl(binary, ATTENTION_TINY)
    if doc is None:
        return
    for r in check_attention_rows(result, doc, ["f32"]):
        for part in ("fwd", "bwd", "fwd_bwd"):
            check_result(result, f"T={r['seq']} naive {part}", r["naive"][part],
                         "median_gflops")
        if not r["ratios"]["clt_over_naive_fwd_bwd"]:
            fail(f"row {r['seq']}: no clt/naive ratio", result)
        if r["check"] is None or not r["check"]["ok"]:
            fail(f"row {r['seq']}: the check against the naive peer did not pass", result)
    print(f"ok: attention on {doc['device']['device_name']} against the naive peer")


SOFTMAX_TINY = ["softmax", "--shape", "8x1000", "--rows", "4", "--cols", "4096",
                "--repeat", "2", "--json"]


def check_softmax_rows(result, doc, dtypes):
    expect_keys(result, doc, ("byte_model",))
    rows = doc["rows"]
    if [(r["shape"], r["dtype"]) for r in rows] != [
            (s, d) for s in ("8x1000", "4x4096") for d in dtypes]:
        fail(f"rows {[(r['shape'], r['dtype']) for r in rows]}", result)
    for r in rows:
        for key in ("two_pass", "three_pass", "copy"):
            check_result(result, f"{r['shape']} {r['dtype']} {key}", r[key], "median_gbps")
        size = 4 if r["dtype"] == "f32" else 2
        if r["bytes"]["two_pass"] != 3 * r["rows"] * r["cols"] * size:
            fail(f"row {r['shape']} {r['dtype']}: two-pass bytes {r['bytes']}", result)
        if any(v is None for v in r["ratios"].values()):
            fail(f"row {r['shape']} {r['dtype']}: ratios {r['ratios']}", result)
        if r["dtype"] == "f32" and (r["check"] is None or not r["check"]["ok"]):
            fail(f"row {r['shape']}: the check did not run or failed", result)
    return rows


def check_softmax_json(binary):
    result, doc = run_on_host(binary, SOFTMAX_TINY)
    rows = check_softmax_rows(result, doc, ["f32", "f16", "bf16"])
    print(f"ok: softmax on the host, {len(rows)} rows")
    result, doc = run_on_opencl(binary, SOFTMAX_TINY)
    if doc is not None:
        check_softmax_rows(result, doc, ["f32"])
        print(f"ok: softmax on {doc['device']['device_name']}")


def check_optim_json(binary):
    """optim on 100k parameters, device rows skipped (the host): host AdamW f32 and q8,
    the triad and the scalar loop measured; fractions of the roofline; q8 state bytes."""
    result = run(binary, "optim", "--device", "host", "--params", "100000", "--repeat", "2",
                 "--json")
    if result.returncode != 0:
        fail("clt-bench optim --json did not exit 0", result)
    doc = load_document(result, "optim")
    for key in ("tool", "benchmark", "device", "params", "rows", "of_roofline",
                "speedup_over_scalar", "q8_state_bytes_per_param", "error"):
        if key not in doc:
            fail(f"top-level key {key!r} missing", result)
    if doc["benchmark"] != "optim" or doc["params"] != 100000 or doc["error"] is not None:
        fail("wrong benchmark, parameter count or an error", result)
    for name in ("host_adamw_f32", "triad_28B", "scalar_1thread", "host_adamw_q8",
                 "host_adamw_q8_b2048"):
        r = doc["rows"][name]
        if not r["ran"] or not r["gparams_per_s"] or r["gparams_per_s"] <= 0:
            fail(f"{name} did not run or has no rate", result)
        if not doc["of_roofline"][name] or doc["of_roofline"][name] <= 0:
            fail(f"{name} has no fraction of the roofline", result)
    for name in ("device_adamw_f32", "device_adamw_q8"):
        if doc["rows"][name]["ran"] or "skipped" not in doc["rows"][name]["note"]:
            fail(f"{name} should be skipped on the host", result)
    if abs(doc["q8_state_bytes_per_param"] - 2.03125) > 1e-9:
        fail("q8 state bytes per parameter should be 2 + 8/256", result)
    if abs(doc["q8_b2048_state_bytes_per_param"] - 2.00390625) > 1e-9:
        fail("q8 state bytes per parameter at block 2048 should be 2 + 8/2048", result)
    print("ok: optim JSON document")


OFFLOAD_ROWS = ("raw_write", "raw_read", "nvme_write", "nvme_read", "pinned_write",
                "pinned_read")


def check_offload_json(binary):
    """offload on 8 MiB in a directory of its own, on the host: every row measured twice,
    ratios over raw, the tier's I/O described, the bytes checked, nothing left behind.
    The training rows have their own test (check_clt_bench_offload.py)."""
    with tempfile.TemporaryDirectory(prefix="clt-bench-offload-") as nvme_dir:
        result = run(binary, "offload", "--device", "host", "--size", "8M", "--repeat", "2",
                     "--nvme-dir", nvme_dir, "--no-train", "--json")
        left = os.listdir(nvme_dir)
    if result.returncode != 0:
        fail("clt-bench offload --json did not exit 0", result)
    doc = load_document(result, "offload")
    for key in ("tool", "benchmark", "clt_version", "device", "repeat", "nvme_dir", "fs_type",
                "bytes", "raw_direct", "tier_io", "rows", "ratios", "check", "error"):
        if key not in doc:
            fail(f"top-level key {key!r} missing", result)
    if doc["benchmark"] != "offload" or doc["error"] is not None:
        fail("not an offload run, or an error", result)
    if doc["bytes"] != 8 << 20 or doc["nvme_dir"] != nvme_dir:
        fail(f"bytes {doc['bytes']} or directory {doc['nvme_dir']} not as asked", result)
    for name in OFFLOAD_ROWS:
        check_result(result, name, doc["rows"][name], "median_gbps")
    for name, ratio in doc["ratios"].items():
        if not ratio or ratio <= 0:
            fail(f"ratio {name} is {ratio}", result)
    if set(doc["ratios"]) != {"nvme_write_over_raw", "nvme_read_over_raw",
                              "pinned_write_over_raw", "pinned_read_over_raw"}:
        fail(f"ratios {sorted(doc['ratios'])}", result)
    if not doc["tier_io"] or "NVME tier" not in doc["tier_io"]:
        fail(f"the tier did not say how it does its I/O: {doc['tier_io']!r}", result)
    if doc["check"] is None or not doc["check"]["ok"]:
        fail("the bytes read back were not the bytes written", result)
    if left:
        fail(f"files left in the NVMe directory: {left}", result)
    print(f"ok: offload on {doc['fs_type']}: write {doc['ratios']['nvme_write_over_raw']:.2f}, "
          f"read {doc['ratios']['nvme_read_over_raw']:.2f} of raw ({doc['tier_io']})")


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
    expect_usage_error(binary, ["offload", "--size", "0"], "--size")
    expect_usage_error(binary, ["offload", "--size", "12Q"], "--size")
    expect_usage_error(binary, ["offload", "--dtype", "f32"], "--dtype")
    expect_usage_error(binary, ["optim", "--params", "0"], "--params")
    expect_usage_error(binary, ["attention", "--seq", "0"], "--seq")
    expect_usage_error(binary, ["attention", "--seq", "12x"], "--seq")
    expect_usage_error(binary, ["attention", "--dim", "0"], "--dim")
    # the default lengths too (found by fuzz_bench_args: it tried to allocate 2^54 bytes)
    expect_usage_error(binary, ["attention", "--batch", "65536", "--heads", "65536",
                                "--dim", "1023"], "2^34")
    expect_usage_error(binary, ["attention", "--causal", "--no-causal"], "--no-causal")
    expect_usage_error(binary, ["attention", "--shape", "64x64"], "--shape")
    expect_usage_error(binary, ["attention", "--dtype", "f64"], "--dtype")
    expect_usage_error(binary, ["attention", "--repeat", "0"], "--repeat")
    expect_usage_error(binary, ["attention", "softmax"], "one benchmark at a time")
    expect_usage_error(binary, ["softmax", "--shape", "12x"], "--shape")
    expect_usage_error(binary, ["softmax", "--shape", "0x5"], "--shape")
    expect_usage_error(binary, ["softmax", "--rows", "5"], "--cols")
    expect_usage_error(binary, ["softmax", "--seq", "5"], "--seq")
    print("ok: usage errors exit 2")


def main():
    checks = {"json": check_json, "attention-json": check_attention_json,
              "softmax-json": check_softmax_json, "usage-error": check_usage_error,
              "optim-json": check_optim_json, "offload-json": check_offload_json}
    if len(sys.argv) != 3 or sys.argv[1] not in checks:
        print(__doc__, file=sys.stderr)
        return 2
    checks[sys.argv[1]](sys.argv[2])
    return 0


if __name__ == "__main__":
    sys.exit(main())
