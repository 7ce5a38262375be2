#!/usr/bin/env python3
"""Checks tools/comm_volume.py against figures worked out by hand: the ring volumes, the
padded layout of cltrain's GPT, the step-time model with and without overlap, and its
usage errors.

Usage: check_comm_volume.py PATH/TO/comm_volume.py
"""
import json
import math
import sys

from toolcheck import fail, run


def volume_json(script, *args):
    r = run(sys.executable, script, *args, "--json", timeout=60)
    if r.returncode != 0:
        fail("comm_volume.py %s exited %d" % (" ".join(args), r.returncode), r)
    try:
        return json.loads(r.stdout)
    except ValueError as e:
        fail("--json output does not parse: %s" % e, r)


def near(got, want, what):
    if not math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-15):
        fail("%s: got %r, want %r" % (what, got, want))


def check_volumes(script):
    # 1,000,000 parameters on 4 ranks, bf16 wire, ZeRO-1:
    #   all-reduce 2·3/4 · 1e6 · 2 B = 3,000,000 B; all-gather 3/4 · 1e6 · 4 B = 3,000,000 B.
    doc = volume_json(script, "--params", "1000000", "--ranks", "4", "--wire", "bf16",
                      "--shard", "yes", "--compute-s", "0.1")
    (row,) = doc["rows"]
    if (row["allreduce_bytes"], row["allgather_bytes"], row["bytes_per_rank"]) != \
            (3000000, 3000000, 6000000):
        fail("1e6 params, N=4, bf16, sharded: want 3e6 + 3e6 bytes, got %r" % row)
    n25, n100 = row["networks"]
    # 6e6 B at 25 GB/s is 0.24 ms; one 2 MB bucket (< 25 MiB) cannot overlap anything.
    near(n25["step_s"], 0.1 + 6e6 / 25e9, "step at 25 GB/s")
    near(n25["step_overlap_s"], n25["step_s"], "one bucket: overlap hides nothing")
    near(n100["efficiency"], 0.1 / (0.1 + 6e6 / 100e9), "efficiency at 100 GB/s")
    near(n100["speedup"], 4 * n100["efficiency"], "speed-up = N x efficiency")

    # f32 wire, no sharding, 8 ranks: 2·7/8 · 1e6 · 4 B = 7,000,000 B, no all-gather; in
    # buckets of 0.5 MiB = 524,288 B of 4e6 gradient bytes only the last bucket's share,
    # 0.131072 of the 0.28 ms at 25 GB/s, stays exposed behind 2/3 · 0.1 s of backward.
    doc = volume_json(script, "--params", "1000000", "--ranks", "8", "--wire", "f32",
                      "--shard", "no", "--compute-s", "0.1", "--bucket-mb", "0.5")
    (row,) = doc["rows"]
    if (row["allreduce_bytes"], row["allgather_bytes"]) != (7000000, 0):
        fail("1e6 params, N=8, f32: want 7e6 bytes all-reduced and none gathered, got %r"
             % row)
    near(row["networks"][0]["step_overlap_s"], 0.1 + 7e6 / 25e9 * 524288 / 4e6,
         "overlapped step with 0.5 MiB buckets")
    # a slow network: 7e6 B at 25 GB/s against a 0.3 ms compute step, 0.2 ms of backward
    doc = volume_json(script, "--params", "1000000", "--ranks", "8", "--wire", "f32",
                      "--shard", "no", "--compute-s", "0.0003", "--bucket-mb", "0.5")
    near(doc["rows"][0]["networks"][0]["step_overlap_s"], 0.0003 + 7e6 / 25e9 - 0.0002,
         "overlap bounded by the backward pass")

    # One rank sends nothing.
    doc = volume_json(script, "--params", "1000", "--ranks", "1", "--compute-s", "1")
    for r in doc["rows"]:
        if r["bytes_per_rank"] != 0:
            fail("one rank should send nothing: %r" % r)


def check_layout(script):
    # tiny: 2 layers, dim 64, ctx 64, vocab 256; every tensor a multiple of 64 elements.
    # wte 256·64 = 16384, wpe 64·64 = 4096; a block 12·64² + 13·64 = 49152 + 832 = 49984;
    # ln_f 128: 16384 + 4096 + 2·49984 + 128 = 120576.
    doc = volume_json(script, "--model", "tiny", "--ranks", "2")
    (m,) = doc["models"]
    if (m["params"], m["elements"]) != (120576, 120576):
        fail("tiny: want 120576 parameters and elements, got %r" % m)
    # small: 6 layers, dim 384, ctx 256: 2·256·384 + 6·(12·384² + 13·384) + 2·384
    #        = 196608 + 6·1774464 + 768 = 10844160 (README: 10.8M).
    doc = volume_json(script, "--model", "small", "--ranks", "2")
    if doc["models"][0]["params"] != 10844160:
        fail("small: want 10844160 parameters, got %r" % doc["models"][0])
    # tiny at dim 96 pads: each 96-element tensor (ln weights and biases, c_proj biases,
    # ln_f) takes 128, c_attn's bias 288 takes 320; the rest are multiples of 64.
    # params  : 24576 + 6144 + 2·(4·96 + 27648 + 288 + 9216 + 96 + 36864 + 384 + 36864
    #           + 96) + 2·96 = 254592
    # elements: 24576 + 6144 + 2·(4·128 + 27648 + 320 + 9216 + 128 + 36864 + 384 + 36864
    #           + 128) + 2·128 = 255104
    doc = volume_json(script, "--model", "tiny", "--dim", "96", "--ranks", "2",
                      "--wire", "f32", "--shard", "no")
    (m,) = doc["models"]
    if (m["params"], m["elements"]) != (254592, 255104):
        fail("tiny at dim 96: want 254592 parameters in 255104 padded elements, got %r" % m)
    # N=2, f32: the all-reduce moves the padded elements: 2·1/2 · 255104 · 4 B.
    if doc["rows"][0]["allreduce_bytes"] != 255104 * 4:
        fail("tiny at dim 96, N=2, f32: want %d bytes, got %r" % (255104 * 4, doc["rows"][0]))
    # default compute time: (6·P + 12·L·C·T) · batch·T FLOPs at 10 TFLOP/s
    want = (6 * 254592 + 12 * 2 * 96 * 64) * 8 * 64 / 10e12
    near(m["compute_s"], want, "default compute time of tiny at dim 96")


def check_table_and_errors(script):
    r = run(sys.executable, script, "--model", "gpt2", "--ranks", "2,8", timeout=60)
    if r.returncode != 0 or "gpt2" not in r.stdout or "100 GB/s" not in r.stdout:
        fail("the table should name gpt2 and the 100 GB/s network", r)
    rows = [ln for ln in r.stdout.splitlines() if ln.startswith("gpt2 ")]
    if len(rows) != 2 * 2 * 2:  # ranks × wires × sharding
        fail("want 8 gpt2 rows (2 rank counts × f32/bf16 × sharded or not)", r)
    for bad in (["--ranks", "0"], ["--ranks", "two"], ["--model", "huge"],
                ["--compute-s", "-1"], ["--params", "1000"]):
        r = run(sys.executable, script, *bad, timeout=60)
        if r.returncode == 0 or not r.stderr.strip():
            fail("%s should fail with a message on stderr" % " ".join(bad), r)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: check_comm_volume.py PATH/TO/comm_volume.py")
    script = sys.argv[1]
    check_volumes(script)
    check_layout(script)
    check_table_and_errors(script)
    print("comm_volume.py: volumes, layout, step model and usage errors as worked by hand")


if __name__ == "__main__":
    main()
