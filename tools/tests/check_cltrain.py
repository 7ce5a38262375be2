#!/usr/bin/env python3
"""Checks cltrain's command-line contract from the outside.

usage: check_cltrain.py CHECK PATH/TO/cltrain

usage-error  unknown flags, bad values and unknown commands exit 2 naming what was wrong.
help         --help of each command exits 0 with the usage on stdout.
train-sample a tiny model trains a few steps on the host with --out and --metrics and
             --sample; the progress lines, the summary, the metrics records and the
             sample are there; `cltrain sample --ckpt` generates from the checkpoint;
             `cltrain plot` draws a PNG when gnuplot is installed.
signal       SIGINT during training stops after the step in progress, saves the
             checkpoint and exits 130.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from toolcheck import fail, run

TINY = ["--model", "tiny", "--ctx", "32", "--batch", "2", "--device", "host"]


def corpus(dirname):
    path = os.path.join(dirname, "corpus.txt")
    with open(path, "w") as f:
        for i in range(400):
            f.write(f"line {i}: the quick brown fox jumps over the lazy dog.\n")
    return path


def check_usage_error(binary):
    cases = [
        (["--no-such-flag"], "--no-such-flag"),
        (["--model", "huge"], "huge"),
        (["--optimizer", "adam"], "adam"),
        (["--dtype", "f64"], "f64"),
        (["--batch", "0"], "--batch"),
        (["--steps", "x"], "--steps"),
        (["--device-mem", "13.6M"], "whole number of bytes"),
        (["--host-mem", "0"], "--host-mem"),
        (["frobnicate"], "frobnicate"),
        (["sample"], "--ckpt"),
        (["plot"], "metrics"),
    ]
    for args, needle in cases:
        result = run(binary, *args)
        if result.returncode != 2:
            fail(f"cltrain {' '.join(args)} should exit 2", result)
        if needle not in result.stderr:
            fail(f"cltrain {' '.join(args)}: stderr should name {needle!r}", result)


def check_help(binary):
    for cmd in (["--help"], ["train", "--help"], ["sample", "--help"], ["plot", "--help"]):
        result = run(binary, *cmd)
        if result.returncode != 0 or "usage: cltrain" not in result.stdout:
            fail(f"cltrain {' '.join(cmd)} should print the usage and exit 0", result)
    result = run(binary, "--help")
    for flag in ("--model", "--data", "--steps", "--optimizer", "--dtype", "--resume",
                 "--metrics", "--eval-every", "--sample", "--stop-at"):
        if flag not in result.stdout:
            fail(f"cltrain --help does not document {flag}", result)


def check_train_sample(binary):
    with tempfile.TemporaryDirectory() as tmp:
        data = corpus(tmp)
        out = os.path.join(tmp, "ckpt")
        metrics = os.path.join(tmp, "m.jsonl")
        result = run(binary, "train", *TINY, "--data", data, "--steps", "6",
                     "--eval-every", "3", "--out", out, "--metrics", metrics,
                     "--sample", "40")
        if result.returncode != 0:
            fail("training a tiny model failed", result)
        if not re.search(r"^step +6/6 ", result.stderr, re.M):
            fail("stderr lacks the progress line of step 6/6", result)
        for needle in ("validation loss", "done: 6 steps", "ms/step",
                       "checkpoint: " + out):
            if needle not in result.stderr:
                fail(f"stderr lacks {needle!r}", result)
        if len(result.stdout) < 40:
            fail("the sample is missing from stdout", result)
        records = [json.loads(line) for line in open(metrics)]
        kinds = [r["type"] for r in records]
        if kinds.count("train") != 6 or kinds.count("val") != 2 or kinds[-1] != "summary":
            fail(f"metrics records are {kinds}")
        for key in ("step", "loss", "lr", "tokens_per_s", "ms_step", "mem_used"):
            if key not in records[0]:
                fail(f"a train record lacks {key!r}: {records[0]}")
        for name in ("model.safetensors", "state.safetensors"):
            if not os.path.exists(os.path.join(out, name)):
                fail(f"{name} was not written")
        result = run(binary, "sample", "--ckpt", out, "--tokens", "30", "--prompt", "line",
                     "--device", "host")
        if result.returncode != 0 or not result.stdout.startswith("line") or \
                len(result.stdout) < 34:
            fail("cltrain sample did not continue the prompt", result)
        if shutil.which("gnuplot"):
            png = os.path.join(tmp, "loss.png")
            result = run(binary, "plot", metrics, "-o", png)
            if result.returncode != 0:
                fail("cltrain plot failed", result)
            with open(png, "rb") as f:
                if f.read(8) != b"\x89PNG\r\n\x1a\n":
                    fail("cltrain plot did not write a PNG")
        else:
            print("gnuplot not installed: plot not checked")
        bad = os.path.join(tmp, "bad.jsonl")
        with open(bad, "w") as f:
            f.write("hello\n")
        result = run(binary, "plot", bad, "-o", os.path.join(tmp, "x.png"))
        if result.returncode != 1 or "bad.jsonl:1" not in result.stderr:
            fail("cltrain plot on a non-metrics file should exit 1 naming line 1", result)


def check_signal(binary):
    with tempfile.TemporaryDirectory() as tmp:
        data = corpus(tmp)
        out = os.path.join(tmp, "ckpt")
        proc = subprocess.Popen([binary, "train", *TINY, "--data", data, "--steps",
                                 "100000", "--out", out, "--log-every", "1"],
                                stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                errors="replace")
        # wait for the first step line, then interrupt
        deadline = time.time() + 120
        seen = ""
        while time.time() < deadline:
            line = proc.stderr.readline()
            seen += line
            if line.startswith("step"):
                break
        proc.send_signal(signal.SIGINT)
        rest_out, rest_err = proc.communicate(timeout=120)
        if proc.returncode != 130:
            fail(f"SIGINT: exit {proc.returncode}, expected 130\n{seen}{rest_err}")
        if "stopped by a signal" not in rest_err:
            fail(f"SIGINT: no message\n{seen}{rest_err}")
        if not os.path.exists(os.path.join(out, "model.safetensors")):
            fail("SIGINT: no checkpoint written")


CHECKS = {"usage-error": check_usage_error, "help": check_help,
          "train-sample": check_train_sample, "signal": check_signal}

if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in CHECKS:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    CHECKS[sys.argv[1]](sys.argv[2])
