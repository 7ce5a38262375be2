#!/usr/bin/env python3
"""Checks clt-info's command-line contract from the outside.

usage: check_clt_info.py json|usage-error|help PATH/TO/clt-info

json         --json exits 0 and stdout is exactly one JSON document that lists the
             "host" device, which runs gemm f32 itself, and for every device that
             opened a support entry for every op and dtype.
usage-error  an unknown flag exits 2 and stderr names the flag and shows the usage.
help         --help exits 0 and prints the usage on stdout.
"""
import json
import sys

from toolcheck import fail, run


def check_json(binary):
    result = run(binary, "--json")
    if result.returncode != 0:
        fail("clt-info --json did not exit 0", result)
    try:
        doc = json.loads(result.stdout)  # rejects anything after the one document
    except json.JSONDecodeError as e:
        fail(f"stdout is not one JSON document: {e}", result)
    for key in ("clt_version", "clt_version_number", "topology", "devices"):
        if key not in doc:
            fail(f"top-level key {key!r} missing", result)
    if doc["topology"].get("pus") is None:
        fail("topology.pus missing", result)
    devices = {d["name"]: d for d in doc["devices"]}
    host = devices.get("host")
    if host is None:
        fail(f"no 'host' device among {sorted(devices)}", result)
    if host.get("error") is not None or not isinstance(host.get("ops"), dict):
        fail("the host device did not open or has no ops", result)
    if "gemm" not in host["ops"]:
        fail("the host device lists no gemm", result)
    if host["ops"]["gemm"].get("f32") != "device":
        fail("the host device should run gemm f32 itself", result)
    for d in doc["devices"]:
        for key in ("type", "global_mem_bytes", "compute_units", "ops", "error"):
            if key not in d:
                fail(f"device {d.get('name')!r} lacks {key!r}", result)
        if d["ops"] is not None:
            for op, dtypes in d["ops"].items():
                if set(dtypes) != {"f32", "f16", "bf16"}:
                    fail(f"device {d['name']} op {op}: dtypes {sorted(dtypes)}", result)
                allowed = ("device", "host-fallback", "unsupported")
                bad = {k: v for k, v in dtypes.items() if v not in allowed}
                if bad:
                    fail(f"device {d['name']} op {op}: unexpected support values {bad}", result)
    print(f"ok: {len(doc['devices'])} device(s): {', '.join(devices)}")


def check_usage_error(binary):
    result = run(binary, "--no-such-flag")
    if result.returncode != 2:
        fail("an unknown flag should exit 2", result)
    if "--no-such-flag" not in result.stderr or "usage:" not in result.stderr:
        fail("stderr should name the flag and show the usage", result)
    if result.stdout:
        fail("a usage error should print nothing on stdout", result)
    print("ok: unknown flag exits 2")


def check_help(binary):
    result = run(binary, "--help")
    if result.returncode != 0 or "usage:" not in result.stdout or "--json" not in result.stdout:
        fail("--help should exit 0 and print the usage on stdout", result)
    print("ok: --help")


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    checks = {"json": check_json, "usage-error": check_usage_error, "help": check_help}
    if sys.argv[1] not in checks:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    checks[sys.argv[1]](sys.argv[2])


if __name__ == "__main__":
    main()
