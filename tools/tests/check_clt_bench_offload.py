#!/usr/bin/env python3
"""Checks `clt-bench offload`'s training rows from the outside.

usage: check_clt_bench_offload.py CHECK PATH/TO/clt-bench

train-json      `offload --quick --ctx 16` (a 16-block model of width 64), 2 rounds, on the
                host and then on opencl:0 where one opens, in the test's own directory:
                the "training" object has the model asked for, every row (resident,
                host and nvme offload, each with and without the optimizer) ran twice
                with finite, positive tokens/s and loss, the offloaded rows stayed in
                their device budget (a tenth of the resident peak) and moved bytes (the
                nvme step through the NVMe tier too), the no-optimizer rows' loss is the
                resident one's (same bits on the host), the four ratios are those of the
                rows' medians with their goals and verdicts, the NVMe rows have goals,
                and no file is left in the directory. `--no-train` leaves it null.
train-usage     --layers 0, --dim 100 (no head size fits), --steps 0 and --batch 0 exit 2
                naming the flag, printing nothing on stdout.
"""
import json
import math
import os
import sys
import tempfile

from toolcheck import fail, run

ROWS = ("resident", "host", "host_fwdbwd", "nvme", "nvme_fwdbwd")
# ratio: (x row, y row, goal kind, goal), as bench_offload_train.c defines them
RATIOS = {
    "host_over_resident": ("host", "resident", "at_least", 0.7),
    "host_step_over_fwdbwd": ("host_fwdbwd", "host", "at_most", 1.15),
    "nvme_over_resident": ("nvme", "resident", "at_least", 0.7),
    "nvme_step_over_fwdbwd": ("nvme_fwdbwd", "nvme", "at_most", 1.15),
}


def positive(x):
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


def run_offload(binary, device, *extra):
    """(result, document, files left) of a quick offload run in a directory of its own;
    fails unless stdout is one JSON document."""
    with tempfile.TemporaryDirectory(prefix="clt-bench-offload-train-") as nvme_dir:
        result = run(binary, "offload", "--device", device, "--quick", "--size", "4M",
                     "--repeat", "2", "--nvme-dir", nvme_dir, "--json", *extra, timeout=540)
        left = os.listdir(nvme_dir)
    try:
        doc = json.loads(result.stdout)
    except json.JSONDecodeError as e:
        fail(f"offload on {device}: stdout is not one JSON document: {e}", result)
    return result, doc, left


def check_training(result, doc, left, exact_losses):
    if result.returncode != 0:
        fail("clt-bench offload did not exit 0", result)
    if left:
        fail(f"files left in the NVMe directory: {left}", result)
    for name, goal in doc.get("goals", {}).items():
        if goal.get("at_least") != 0.8 or goal.get("met") not in (True, False):
            fail(f"NVMe ratio {name}: goal {goal}", result)
    if set(doc.get("goals", {})) != set(doc["ratios"]):
        fail(f"NVMe goals {sorted(doc.get('goals', {}))} vs ratios {sorted(doc['ratios'])}",
             result)
    t = doc.get("training")
    if not t or t["error"] is not None:
        fail(f"no training object, or an error: {t and t['error']}", result)
    if t["model"] != {"layers": 16, "heads": 2, "dim": 64, "ctx": 16, "vocab": 256,
                      "params": t["model"]["params"]} or not positive(t["model"]["params"]):
        fail(f"model {t['model']} is not --quick's with --ctx 16", result)
    if t["batch"] != 1 or t["tokens_per_step"] != 16 or t["steps_per_round"] != 2:
        fail(f"batch {t['batch']}, tokens {t['tokens_per_step']}, steps "
             f"{t['steps_per_round']}", result)
    footprint, budget = t["footprint_bytes"], t["device_budget_bytes"]
    if not positive(footprint) or budget != int(footprint * 0.1) or t["budget_fraction"] != 0.1:
        fail(f"footprint {footprint}, budget {budget}, fraction {t['budget_fraction']}", result)
    rows = t["rows"]
    if set(rows) != set(ROWS):
        fail(f"training rows {sorted(rows)}", result)
    for name in ROWS:
        r = rows[name]
        if not r["ran"] or len(r["samples_seconds"]) != 2:
            fail(f"row {name} did not run twice: {r['note']}", result)
        for key in ("tokens_per_s", "seconds_per_step", "median_seconds", "final_loss",
                    "device_peak_bytes"):
            if not positive(r[key]):
                fail(f"row {name}: {key} is {r[key]}", result)
        tokens = t["tokens_per_step"] * t["steps_per_round"]
        if abs(r["tokens_per_s"] * r["median_seconds"] - tokens) > 1e-6 * tokens:
            fail(f"row {name}: tokens/s {r['tokens_per_s']} is not {tokens} tokens over "
                 f"{r['median_seconds']} s", result)
        if name == "resident":
            if r["per_step"] is not None or r["device_peak_bytes"] < footprint:
                fail(f"resident row: per_step {r['per_step']}, peak "
                     f"{r['device_peak_bytes']} under the footprint {footprint}", result)
            continue
        if r["device_peak_bytes"] > budget:
            fail(f"row {name}: device peak {r['device_peak_bytes']} over the budget {budget}",
                 result)
        e = r["per_step"]
        if not positive(e["bytes_to_device"]) or not positive(e["bytes_from_device"]):
            fail(f"row {name}: nothing moved: {e}", result)
        on_nvme = name == "nvme"  # the update stages the state; fwd+bwd reads none
        if on_nvme != positive(e["bytes_nvme_read"]) or on_nvme != positive(e["bytes_nvme_write"]):
            fail(f"row {name}: NVMe bytes {e['bytes_nvme_read']} read, "
                 f"{e['bytes_nvme_write']} written", result)
    # The resident row's last loss is after as many updates as the offloaded models have
    # when their no-optimizer rows run (the resident's sizing step makes up for the
    # order of the rows): the same math, so the same loss; bit for bit on the host.
    for name in ("host_fwdbwd", "nvme_fwdbwd"):
        a, b = rows[name]["final_loss"], rows["resident"]["final_loss"]
        if (a != b) if exact_losses else abs(a - b) > 1e-3 * abs(b):
            fail(f"row {name}: loss {a!r}, the resident model's {b!r}", result)
    if set(t["ratios"]) != set(RATIOS) or set(t["goals"]) != set(RATIOS):
        fail(f"training ratios {sorted(t['ratios'])}, goals {sorted(t['goals'])}", result)
    for name, (x, y, kind, goal) in RATIOS.items():
        value = t["ratios"][name]
        want = rows[y]["median_seconds"] / rows[x]["median_seconds"]
        if not positive(value) or abs(value - want) > 1e-9 * want:
            fail(f"ratio {name} is {value}, its rows say {want}", result)
        met = value >= goal if kind == "at_least" else value <= goal
        if t["goals"][name] != {kind: goal, "met": met}:
            fail(f"goal of {name}: {t['goals'][name]}, want {kind} {goal}, met {met}", result)
    return t


def check_train_json(binary):
    result, doc, left = run_offload(binary, "host", "--ctx", "16")
    t = check_training(result, doc, left, True)
    print(f"ok: host: {t['ratios']['host_over_resident']:.2f} of resident tokens/s, step "
          f"{t['ratios']['host_step_over_fwdbwd']:.2f} of fwd+bwd at a budget of "
          f"{t['device_budget_bytes']} bytes")
    result, doc, left = run_offload(binary, "host", "--no-train")
    if result.returncode != 0 or doc.get("training", 0) is not None or left:
        fail("--no-train: training should be null", result)
    result, doc, left = run_offload(binary, "opencl:0", "--ctx", "16")
    if (doc["error"] or "").startswith("cannot open"):
        print("ok: no OpenCL device: training rows measured on the host only")
        return
    t = check_training(result, doc, left, False)
    print(f"ok: opencl:0: {t['ratios']['host_over_resident']:.2f} of resident tokens/s, "
          f"step {t['ratios']['host_step_over_fwdbwd']:.2f} of fwd+bwd")


def expect_usage_error(binary, args, must_name):
    result = run(binary, "offload", *args)
    if result.returncode != 2:
        fail(f"offload {args} should exit 2", result)
    if must_name not in result.stderr:
        fail(f"stderr for offload {args} should name {must_name!r}", result)
    if result.stdout:
        fail(f"offload {args}: a usage error should print nothing on stdout", result)


def check_train_usage(binary):
    expect_usage_error(binary, ["--layers", "0"], "--layers")
    expect_usage_error(binary, ["--dim", "100"], "dim")
    expect_usage_error(binary, ["--steps", "0"], "--steps")
    expect_usage_error(binary, ["--batch", "0"], "--batch")
    print("ok: the training flags' usage errors exit 2")


def main():
    checks = {"train-json": check_train_json, "train-usage": check_train_usage}
    if len(sys.argv) != 3 or sys.argv[1] not in checks:
        print(__doc__, file=sys.stderr)
        return 2
    checks[sys.argv[1]](sys.argv[2])
    return 0


if __name__ == "__main__":
    sys.exit(main())
