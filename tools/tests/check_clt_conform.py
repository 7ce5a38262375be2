#!/usr/bin/env python3
"""Checks clt-conform's contract from the outside.

usage: check_clt_conform.py usage-error|reports|perturbed|quick PATH/TO/clt-conform

usage-error  an unknown op, an unknown device, a malformed --case and --case without one
             --op each exit 2 with a message naming what was wrong.
reports      on the host device (fast): --json is one JSON document, --junit FILE is
             JUnit XML with one testcase per case (and one for the training check), and
             both agree; --list names every op with its tolerance.
perturbed    a copy of kernels_cl/ with GELU's sign flipped, loaded through
             CLT_KERNEL_DIR: gelu_fwd on opencl:0 fails, each failing case prints its seed,
             shape, dtype and a replay command; the replay fails again, and the same
             replay with the real kernels passes.
quick        --quick on every OpenCL device passes (minutes on PoCL).

Exit status 77 (skipped) where a check needs an OpenCL device and there is none.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

from toolcheck import fail, run

SOURCE_ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SKIP = 77


def skip_without_opencl(result):
    text = result.stdout + result.stderr
    if "no device 'opencl:0'" in text or "no device but the host" in text:
        print("skipped: no OpenCL device")
        sys.exit(SKIP)


def check_usage_error(binary):
    cases = [
        (["--op", "no_such_op"], "no_such_op"),
        (["--op", "gemm,nope"], "nope"),
        (["--device", "opencl:99"], "opencl:99"),
        (["--device", "cuda:0"], "cuda:0"),
        (["--op", "gemm", "--case", "f32 m=2 q=3"], "'q'"),
        (["--op", "gemm", "--case", "f64 m=2"], "f64"),
        (["--op", "gemm", "--case", "f32 m=x"], "m=x"),
        (["--case", "f32 m=2"], "--case"),
        (["--op", "gemm", "--op", "softmax", "--case", "f32 m=2"], "--case"),
        (["--no-such-flag"], "--no-such-flag"),
    ]
    for args, named in cases:
        result = run(binary, *args)
        if result.returncode != 2:
            fail(f"{args} should exit 2", result)
        if named not in result.stderr or "usage:" not in result.stderr:
            fail(f"{args}: stderr should name {named!r} and show the usage", result)
        if result.stdout:
            fail(f"{args}: a usage error prints nothing on stdout", result)
    help_result = run(binary, "--help")
    if help_result.returncode != 0 or "--junit" not in help_result.stdout:
        fail("--help should exit 0 and show the usage on stdout", help_result)
    print(f"ok: {len(cases)} usage errors exit 2")


def check_reports(binary):
    with tempfile.TemporaryDirectory() as tmp:
        junit = os.path.join(tmp, "conform.xml")
        result = run(binary, "--device", "host", "--quick", "--op", "gemm,softmax,adamw,training",
                     "--json", "--junit", junit)
        if result.returncode != 0:
            fail("a quick run on the host should pass", result)
        try:
            doc = json.loads(result.stdout)
        except json.JSONDecodeError as e:
            fail(f"stdout is not one JSON document: {e}", result)
        if not doc.get("passed") or len(doc.get("devices", [])) != 1:
            fail("the JSON should report one device that passed", result)
        dev = doc["devices"][0]
        cases = dev["cases"]
        ops = {c["op"] for c in cases}
        if ops != {"gemm", "softmax", "adamw"}:
            fail(f"cases of ops {sorted(ops)}, expected gemm, softmax, adamw", result)
        for c in cases:
            for key in ("dtype", "shape", "seed", "case", "status", "kernel", "replay"):
                if key not in c:
                    fail(f"case {c.get('case')} lacks {key!r}", result)
            if c["status"] != "pass" or not c["determinism_checked"]:
                fail(f"case {c['case']} should pass with its determinism checked", result)
        if dev["training"] is None or not dev["training"]["passed"]:
            fail("the training check should have run and passed", result)
        if dev["summary"]["passed"] != len(cases):
            fail("the summary should count every case as passed", result)
        try:
            root = ET.parse(junit).getroot()
        except (ET.ParseError, OSError) as e:
            fail(f"--junit wrote no parsable XML: {e}", result)
        suites = root.findall("testsuite")
        if len(suites) != 1:
            fail(f"expected one testsuite, found {len(suites)}", result)
        testcases = suites[0].findall("testcase")
        op_cases = [t for t in testcases if not t.get("classname", "").endswith(".training")]
        if len(op_cases) != len(cases) or len(testcases) != len(cases) + 1:
            fail(f"JUnit has {len(testcases)} testcases for {len(cases)} cases + training", result)
        if int(suites[0].get("tests")) != len(testcases) or suites[0].findall(".//failure"):
            fail("the testsuite's counts disagree with its testcases", result)
        names = sorted(t.get("name") for t in op_cases)
        if names != sorted(c["case"] for c in cases):
            fail("JUnit testcase names differ from the JSON's cases", result)

    listing = run(binary, "--list")
    if listing.returncode != 0:
        fail("--list should exit 0", listing)
    listed = re.findall(r"^(\w+)\s+(?:f32|f16|bf16)", listing.stdout, re.M)
    tolerances = re.findall(r"^\s+tolerance:", listing.stdout, re.M)
    if len(listed) < 20 or len(tolerances) != len(listed) or "attention_bwd" not in listed:
        fail(f"--list should name every op with a tolerance line (found {listed})", listing)
    print(f"ok: {len(cases)} cases in JSON and JUnit; --list names {len(listed)} ops")


def first_failure(result):
    """The failing case's detail line and its replay command from the text report."""
    detail = re.search(r"op (\w+), dtype (\w+), shape (.*), seed (\d+)", result.stdout)
    replay = re.search(r"^\s+replay: (.*)$", result.stdout, re.M)
    if not detail or not replay:
        fail("a failing case should print its op, dtype, shape, seed and a replay command",
             result)
    return detail, replay.group(1)


def check_perturbed(binary):
    with tempfile.TemporaryDirectory() as tmp:
        kdir = os.path.join(tmp, "kernels_cl")
        shutil.copytree(os.path.join(SOURCE_ROOT, "kernels_cl"), kdir)
        path = os.path.join(kdir, "elementwise.cl")
        with open(path) as f:
            text = f.read()
        wrong = text.replace("0.5f * x * (1.0f + tanh(", "0.5f * x * (1.0f - tanh(")
        if wrong == text:
            fail("the GELU line to perturb was not found in kernels_cl/elementwise.cl")
        with open(path, "w") as f:
            f.write(wrong)

        env = dict(os.environ, CLT_KERNEL_DIR=kdir)
        result = subprocess.run([binary, "--device", "opencl:0", "--op", "gelu_fwd"],
                                capture_output=True, text=True, env=env, timeout=600)
        skip_without_opencl(result)
        if result.returncode != 1:
            fail("a perturbed GELU kernel should fail conformance (exit 1)", result)
        if not re.search(r"^\s+gelu_fwd\s.*FAIL", result.stdout, re.M):
            fail("the report should name a failing gelu_fwd case", result)
        detail, replay = first_failure(result)
        if detail.group(1) != "gelu_fwd" or "--op gelu_fwd" not in replay or \
                f"seed={detail.group(4)}" not in replay or "CLT_KERNEL_DIR=" not in replay:
            fail(f"the replay command does not match the failing case: {replay}", result)

        again = subprocess.run(replay, shell=True, capture_output=True, text=True,
                               timeout=600)
        if again.returncode != 1 or again.stdout.count(" FAIL") != 1:
            fail(f"the replay should run one case and fail again: {replay}", again)
        if "replay run" not in again.stdout or "training check" in again.stdout:
            fail("a replay runs only its case", again)

        # the same case with the real kernels passes: the failure was the perturbation's
        pristine = re.sub(r"^CLT_KERNEL_DIR='[^']*' ", "", replay)
        good = subprocess.run(pristine, shell=True, capture_output=True, text=True,
                              timeout=600, env={k: v for k, v in os.environ.items()
                                                if k != "CLT_KERNEL_DIR"})
        if good.returncode != 0 or " pass " not in good.stdout:
            fail(f"the replay with the real kernels should pass: {pristine}", good)
    print(f"ok: perturbed GELU fails, replay fails again: {replay}")


def check_quick(binary):
    result = run(binary, "--quick", timeout=880)
    skip_without_opencl(result)
    if result.returncode != 0 or not re.search(r"^CONFORMANT in", result.stdout, re.M):
        fail("--quick should pass on every OpenCL device", result)
    print(result.stdout.strip().splitlines()[-1])


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    checks = {"usage-error": check_usage_error, "reports": check_reports,
              "perturbed": check_perturbed, "quick": check_quick}
    if sys.argv[1] not in checks:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    checks[sys.argv[1]](sys.argv[2])


if __name__ == "__main__":
    main()
