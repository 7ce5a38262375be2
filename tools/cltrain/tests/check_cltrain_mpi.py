#!/usr/bin/env python3
"""Checks cltrain's data-parallel training from the outside, two ranks on one machine.

usage: check_cltrain_mpi.py CHECK PATH/TO/cltrain [PATH/TO/mpiexec]

equivalence  2 ranks x batch b give the losses of 1 rank x batch 2b within a tolerance,
             for adamw and adamw8bit, with and without --shard (sharded and unsharded
             runs give the same bits); --allreduce bf16 halves the gradient bytes on the
             wire and stays within a wider tolerance.
resume       a 2-rank checkpoint (sharded, adamw8bit) resumes on 2 ranks with the losses of
             the run that never stopped, bit for bit, and on 1 rank (batch 2b) with the
             same next loss; a 1-rank checkpoint resumes sharded on 2 ranks; the state a
             sharded run gathers to rank 0 is the unsharded run's, tensor for tensor.
offload      the same with --offload host: 2 ranks (sharded or not) give 1 rank's
             losses, the engine's state is gathered to rank 0 from its owners, and the
             checkpoint resumes as a resident single-process run.
signal       SIGTERM to rank 1 alone stops both ranks after the same step, rank 0 saving
             that step's checkpoint.
rank-dies    a rank killed after step 3 ends the job with an error within 60 s; the
             checkpoint of step 2 is intact and resumes.
rank-hangs   a rank that hangs after step 3 makes rank 0 fail with the communicator's
             timeout sentence (--comm-timeout 5) within 60 s.
save-fails   a checkpoint that rank 0 cannot save makes every rank exit 1, rank 1 saying
             why it stops.
flags        the data-parallel flags' usage errors (exit 2, naming the flag) and --help.
no-mpi       (a build without MPI) a launch that says it has 2 ranks is refused with the
             sentence that says how to rebuild, before anything runs.
"""
import json
import os
import re
import signal
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "tests"))
from toolcheck import fail  # noqa: E402

TINY = ["--model", "tiny", "--ctx", "32", "--device", "host", "--lr", "3e-3",
        "--warmup", "2"]
# Tolerances of 2 ranks x b against 1 rank x 2b. Both compute the same mean gradient,
# but the sums over the batch are split differently (each rank's GEMMs over b rows, then
# one f32 addition), so f32 rounding differs in the last bits; Adam's m/sqrt(v) turns
# the relative error of a near-zero gradient into a visible change of its update. Over
# 10 steps of the tiny model that moves the loss by about 5e-6 (both optimizers); 1e-4
# leaves a margin of 20. bf16 on the wire rounds every gradient to 8 significant bits
# (relative error up to 2^-9) before the sum: about 2e-4 measured, 3e-3 allowed. A run
# on other data (1 rank x b) is 0.1 away, so neither bound would hide a wrong batch.
TOL_F32 = 1e-4
TOL_BF16 = 3e-3


def corpus(dirname):
    path = os.path.join(dirname, "corpus.txt")
    words = ("the quick brown fox jumps over lazy dog and a cat sat on mat while birds "
             "sing in trees of green summer light").split()
    x = 12345
    with open(path, "w") as f:
        for line in range(3000):
            out = []
            for _ in range(4 + line % 7):
                x = (x * 6364136223846793005 + 1442695040888963407) % 2**64
                out.append(words[(x >> 33) % len(words)])
            f.write(" ".join(out) + ".\n")
    return path


class Launcher:
    """Runs cltrain as 1 process or as 2 ranks under mpiexec."""

    def __init__(self, binary, mpiexec=None):
        self.binary = binary
        self.mpiexec = mpiexec
        self.flags = []
        if mpiexec:
            # Open MPI refuses root (containers, CI) without both; other MPIs ignore them
            os.environ["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
            os.environ["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
            version = subprocess.run([mpiexec, "--version"], capture_output=True, text=True)
            text = (version.stdout + version.stderr).lower()
            # two ranks on this machine whatever its core count: Open MPI's flag
            if "open-mpi" in text or "openrte" in text or "open mpi" in text:
                self.flags = ["--oversubscribe"]

    def one(self, *args, env=None, timeout=240):
        return subprocess.run([self.binary, *args], capture_output=True, text=True,
                              errors="replace", timeout=timeout, env=env)

    def two(self, *args, env=None, timeout=240):
        return subprocess.run([self.mpiexec, *self.flags, "-np", "2", self.binary, *args],
                              capture_output=True, text=True, errors="replace",
                              timeout=timeout, env=env)


def train_records(path):
    return [r for r in map(json.loads, open(path)) if r["type"] == "train"]


def losses(path):
    return [r["loss"] for r in train_records(path)]


def expect_ok(result, what):
    if result.returncode != 0:
        fail(f"{what} failed", result)


def read_safetensors(path):
    """{name: (dtype, shape, bytes)} and the metadata of a safetensors file."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    tensors = {k: (v["dtype"], tuple(v["shape"]),
                   data[v["data_offsets"][0]:v["data_offsets"][1]])
               for k, v in header.items()}
    return tensors, meta


def close(a, b, tol):
    return len(a) == len(b) and all(abs(x - y) <= tol for x, y in zip(a, b))


def check_equivalence(launch, tmp):
    data = corpus(tmp)
    common = [*TINY, "--data", data, "--steps", "10"]
    for opt in ("adamw", "adamw8bit"):
        def metrics(name):
            return os.path.join(tmp, f"{name}-{opt}.jsonl")
        args = [*common, "--optimizer", opt]
        expect_ok(launch.one(*args, "--batch", "8", "--metrics", metrics("one")),
                  f"{opt}: 1 rank x 8")
        expect_ok(launch.one(*args, "--batch", "4", "--metrics", metrics("half")),
                  f"{opt}: 1 rank x 4")
        for name, extra in (("two", []), ("shard", ["--shard"]),
                            ("bf16", ["--allreduce", "bf16"]),
                            ("bf16-shard", ["--allreduce", "bf16", "--shard"])):
            expect_ok(launch.two(*args, "--batch", "4", *extra, "--metrics", metrics(name)),
                      f"{opt}: 2 ranks x 4 {' '.join(extra)}")
        one, half = losses(metrics("one")), losses(metrics("half"))
        if len(one) != 10:
            fail(f"{opt}: the 1-rank run logged {len(one)} steps, not 10")
        if close(one, half, TOL_BF16):
            fail(f"{opt}: 1 rank x 4 is within {TOL_BF16} of 1 rank x 8 ({half} vs {one}): "
                 "the tolerances could not tell a wrong batch")
        for name, tol in (("two", TOL_F32), ("bf16", TOL_BF16)):
            got = losses(metrics(name))
            if not close(got, one, tol):
                fail(f"{opt}: 2 ranks x 4 ({name}) losses {got} are not within {tol} of "
                     f"1 rank x 8's {one}")
            sharded = losses(metrics(name + "-shard" if name == "bf16" else "shard"))
            if sharded != got:
                fail(f"{opt}: --shard changed the losses ({name}): {sharded} vs {got}")
        f32, bf16 = losses(metrics("two")), losses(metrics("bf16"))
        if f32 == bf16:
            fail(f"{opt}: --allreduce bf16 gave the f32 wire's bits: it was not used")
        rec32, rec16 = train_records(metrics("two"))[-1], train_records(metrics("bf16"))[-1]
        if rec32["comm"]["grad_bytes"] != 2 * rec16["comm"]["grad_bytes"]:
            fail(f"{opt}: gradient bytes per step f32 {rec32['comm']['grad_bytes']}, bf16 "
                 f"{rec16['comm']['grad_bytes']}: bf16 should be half")
        for rec in (rec32, rec16):
            if rec["comm"]["ranks"] != 2:
                fail(f"{opt}: a step record says {rec['comm']['ranks']} ranks: {rec}")
        shard_rec = train_records(metrics("shard"))[-1]["comm"]
        if shard_rec["bytes_allgathered"] != rec32["comm"]["grad_bytes"] \
                or rec32["comm"]["bytes_allgathered"] != 0:
            fail(f"{opt}: all-gathered bytes: sharded {shard_rec['bytes_allgathered']}, "
                 f"unsharded {rec32['comm']['bytes_allgathered']}; expected the f32 "
                 f"parameters' {rec32['comm']['grad_bytes']} and 0")
        summary = [r for r in map(json.loads, open(metrics("shard")))
                   if r["type"] == "summary"][0]
        per_rank = summary["comm"]["state_bytes_per_rank"]
        whole = [r for r in map(json.loads, open(metrics("two")))
                 if r["type"] == "summary"][0]["comm"]["state_bytes_per_rank"]
        if len(per_rank) != 2 or whole[0] != whole[1] or \
                not (0 < per_rank[0] < whole[0] and 0 < per_rank[1] < whole[0]):
            fail(f"{opt}: optimizer state bytes per rank: sharded {per_rank}, unsharded "
                 f"{whole}: each sharded rank should hold a part")
        print(f"{opt}: 2 ranks vs 1, max |d loss| f32 wire "
              f"{max(abs(x - y) for x, y in zip(f32, one)):.2e}, bf16 wire "
              f"{max(abs(x - y) for x, y in zip(bf16, one)):.2e}; state per rank "
              f"{per_rank} sharded, {whole[0]} whole")


def check_resume(launch, tmp):
    data = corpus(tmp)
    args = [*TINY, "--data", data, "--steps", "8", "--optimizer", "adamw8bit"]
    path = lambda name: os.path.join(tmp, name)  # noqa: E731
    expect_ok(launch.two(*args, "--batch", "4", "--shard", "--out", path("straight"),
                         "--metrics", path("straight.jsonl")), "2 ranks straight")
    expect_ok(launch.two(*args, "--batch", "4", "--out", path("whole"), "--stop-at", "8"),
              "2 ranks unsharded")
    expect_ok(launch.two(*args, "--batch", "4", "--shard", "--stop-at", "4",
                         "--out", path("split")), "2 ranks to step 4")
    expect_ok(launch.one(*args, "--batch", "8", "--stop-at", "4", "--out", path("single")),
              "1 rank to step 4")
    straight = losses(path("straight.jsonl"))
    # the same checkpoint, resumed by each layout
    for name, how in (("on2", "two"), ("on1", "one"), ("one-to-2", "two")):
        src = path("single") if name == "one-to-2" else path("split")
        subprocess.run(["cp", "-r", src, path(name)], check=True)
        batch = ["--batch", "8"] if how == "one" else ["--batch", "4", "--shard"]
        expect_ok(getattr(launch, how)(*args, *batch, "--resume", path(name),
                                       "--metrics", path(name + ".jsonl")),
                  f"resume {name}")
        got = losses(path(name + ".jsonl"))
        if len(got) != 4:
            fail(f"resume {name}: {len(got)} steps logged, expected steps 5..8")
        if name == "on2" and got != straight[4:]:
            fail(f"2-rank checkpoint on 2 ranks: losses {got}, the straight run's "
                 f"{straight[4:]}: not bit-identical")
        if abs(got[0] - straight[4]) > TOL_F32 or not close(got, straight[4:], TOL_F32):
            fail(f"resume {name}: losses {got}, the straight 2-rank run's {straight[4:]} "
                 f"(tolerance {TOL_F32})")
    # rank 0 gathered the other rank's state: the file is the unsharded run's
    sharded, meta = read_safetensors(os.path.join(path("straight"), "state.safetensors"))
    whole, _ = read_safetensors(os.path.join(path("whole"), "state.safetensors"))
    if sharded.keys() != whole.keys():
        fail(f"the sharded checkpoint's state tensors differ from the unsharded one's: "
             f"{sorted(set(sharded) ^ set(whole))}")
    for name in whole:
        if sharded[name] != whole[name]:
            fail(f"state tensor {name} differs between the sharded and unsharded runs")
    if meta.get("step") != "8":
        fail(f"the sharded checkpoint says step {meta.get('step')}, expected 8")
    print(f"resume: {len(whole)} state tensors gathered to rank 0 equal the unsharded "
          f"run's; 2->2 exact, 2->1 and 1->2 max |d loss| "
          f"{max(abs(x - y) for x, y in zip(losses(path('on1.jsonl')), straight[4:])):.2e}")


def check_offload(launch, tmp):
    data = corpus(tmp)
    args = [*TINY, "--data", data, "--steps", "8", "--optimizer", "adamw8bit",
            "--offload", "host"]
    path = lambda name: os.path.join(tmp, name)  # noqa: E731
    expect_ok(launch.one(*args, "--batch", "8", "--metrics", path("one.jsonl")),
              "offloaded, 1 rank x 8")
    expect_ok(launch.two(*args, "--batch", "4", "--shard", "--out", path("sharded"),
                         "--metrics", path("sharded.jsonl")), "offloaded, 2 ranks x 4 sharded")
    expect_ok(launch.two(*args, "--batch", "4", "--out", path("whole"),
                         "--metrics", path("whole.jsonl")), "offloaded, 2 ranks x 4")
    one = losses(path("one.jsonl"))
    for name in ("sharded", "whole"):
        got = losses(path(name + ".jsonl"))
        if not close(got, one, TOL_F32):
            fail(f"offloaded, 2 ranks x 4 ({name}): losses {got} are not within {TOL_F32} "
                 f"of 1 rank x 8's {one}")
    summary = [r for r in map(json.loads, open(path("sharded.jsonl")))
               if r["type"] == "summary"][0]["comm"]
    whole_summary = [r for r in map(json.loads, open(path("whole.jsonl")))
                     if r["type"] == "summary"][0]["comm"]
    if not all(0 < b < whole_summary["state_bytes_per_rank"][0]
               for b in summary["state_bytes_per_rank"]):
        fail(f"offloaded state bytes per rank: sharded {summary['state_bytes_per_rank']}, "
             f"unsharded {whole_summary['state_bytes_per_rank']}")
    # the engine's state, gathered to rank 0 from its owners, is the unsharded run's
    sharded, _ = read_safetensors(os.path.join(path("sharded"), "state.safetensors"))
    whole, _ = read_safetensors(os.path.join(path("whole"), "state.safetensors"))
    if sharded.keys() != whole.keys() or any(sharded[k] != whole[k] for k in whole):
        fail("the offloaded sharded run's gathered state differs from the unsharded run's")
    # and it resumes as a resident single-process run
    expect_ok(launch.one(*TINY, "--data", data, "--steps", "10", "--optimizer", "adamw8bit",
                         "--batch", "8", "--resume", path("sharded"),
                         "--metrics", path("resumed.jsonl")), "resuming on 1 rank, resident")
    if [r["step"] for r in train_records(path("resumed.jsonl"))] != [9, 10]:
        fail("the resumed run did not go on from step 8")
    print(f"offload: 2 ranks vs 1 max |d loss| "
          f"{max(abs(x - y) for x, y in zip(losses(path('sharded.jsonl')), one)):.2e}; "
          f"state per rank {summary['state_bytes_per_rank']} sharded")


def fault_env(name, step):
    env = dict(os.environ)
    env[name] = str(step)
    return env


def check_rank_dies(launch, tmp):
    data = corpus(tmp)
    out = os.path.join(tmp, "ckpt")
    args = [*TINY, "--data", data, "--steps", "1000", "--batch", "4", "--ckpt-every", "2",
            "--out", out]
    t0 = time.monotonic()
    result = launch.two(*args, env=fault_env("CLTRAIN_TEST_DIE_AT_STEP", 3), timeout=120)
    took = time.monotonic() - t0
    if result.returncode == 0:
        fail("a rank was killed but the job exited 0", result)
    if took > 60:
        fail(f"the job took {took:.0f} s to end after a rank died", result)
    if "rank 1" not in result.stderr or "signal 9" not in result.stderr:
        fail("stderr does not say that rank 1 died of signal 9", result)
    tensors, meta = read_safetensors(os.path.join(out, "state.safetensors"))
    if meta.get("step") != "2":
        fail(f"the last checkpoint says step {meta.get('step')}, expected 2")
    metrics = os.path.join(tmp, "after.jsonl")
    resumed = launch.one(*TINY, "--data", data, "--steps", "1000", "--batch", "8",
                         "--stop-at", "3", "--resume", out, "--metrics", metrics)
    expect_ok(resumed, "resuming the checkpoint a dead rank left")
    steps = [r["step"] for r in train_records(metrics)]
    if steps != [3]:
        fail(f"the resumed run logged steps {steps}, expected [3]", resumed)
    print(f"rank-dies: the job ended {took:.1f} s after the start, exit "
          f"{result.returncode}; the step-2 checkpoint resumed")


def check_rank_hangs(launch, tmp):
    data = corpus(tmp)
    args = [*TINY, "--data", data, "--steps", "1000", "--batch", "4", "--comm-timeout", "5"]
    t0 = time.monotonic()
    result = launch.two(*args, env=fault_env("CLTRAIN_TEST_HANG_AT_STEP", 3), timeout=120)
    took = time.monotonic() - t0
    if result.returncode == 0:
        fail("a rank hung but the job exited 0", result)
    if took > 60:
        fail(f"the job took {took:.0f} s to end after a rank hung", result)
    for needle in ("cltrain: rank 0 of 2:", "made no progress for 5 s",
                   "communication between ranks failed"):
        if needle not in result.stderr:
            fail(f"stderr lacks {needle!r}", result)
    print(f"rank-hangs: rank 0 gave up and the job ended {took:.1f} s after the start")


def check_save_fails(launch, tmp):
    data = corpus(tmp)
    out = os.path.join(tmp, "ckpt")
    # a directory where the save's temporary file must go: the save cannot complete
    os.makedirs(os.path.join(out, "model.safetensors.next", "x"))
    t0 = time.monotonic()
    result = launch.two(*TINY, "--data", data, "--steps", "1000", "--batch", "4",
                        "--ckpt-every", "2", "--out", out, "--comm-timeout", "30",
                        timeout=120)
    took = time.monotonic() - t0
    if result.returncode != 1:
        fail(f"a failed save: exit {result.returncode}, expected 1", result)
    if took > 60:
        fail(f"a failed save took {took:.0f} s to end the job", result)
    for needle in ("cltrain: rank 0 of 2: checkpoint:",
                   "cltrain: rank 1 of 2: checkpoint: rank 0 could not save it"):
        if needle not in result.stderr:
            fail(f"stderr lacks {needle!r}", result)
    if "step   3/" in result.stderr:
        fail("training went on past the failed save of step 2", result)


def rank_pid(launcher_pid, rank):
    """The pid of a rank that mpiexec started, found by its OMPI_COMM_WORLD_RANK."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            if ppid != launcher_pid:
                continue
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = f.read().split(b"\0")
        except OSError:
            continue
        if f"OMPI_COMM_WORLD_RANK={rank}".encode() in env:
            return int(pid)
    return None


def check_signal(launch, tmp):
    if not launch.flags:
        print("not Open MPI: its ranks cannot be told apart here; skipped")
        sys.exit(77)
    data = corpus(tmp)
    out = os.path.join(tmp, "ckpt")
    proc = subprocess.Popen([launch.mpiexec, *launch.flags, "-np", "2", launch.binary, *TINY,
                             "--data", data, "--steps", "100000", "--batch", "4",
                             "--log-every", "1", "--out", out],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            errors="replace")
    seen, pid = "", None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line and proc.poll() is not None:
            break
        seen += line
        if re.match(r"step +\d+/", line):
            pid = rank_pid(proc.pid, 1)
            break
    if pid is None:
        proc.kill()
        fail(f"no step line, or no rank 1 under mpiexec\n{seen}")
    os.kill(pid, signal.SIGTERM)  # rank 1 alone: rank 0 learns it from the step's sum
    _, rest_err = proc.communicate(timeout=60)
    text = seen + rest_err
    found = re.search(r"stopped by a signal at step (\d+); the checkpoint holds it", text)
    if not found:
        fail(f"a signal on rank 1 did not stop the run with a checkpoint\n{text}")
    _, meta = read_safetensors(os.path.join(out, "state.safetensors"))
    if meta.get("step") != found.group(1):
        fail(f"the checkpoint holds step {meta.get('step')}, the run stopped at "
             f"{found.group(1)}\n{text}")
    if proc.returncode == 0:
        fail(f"mpiexec exited 0 after its ranks exited 130\n{text}")
    print(f"signal: SIGTERM on rank 1 stopped both ranks after step {found.group(1)}")


def check_flags(launch, tmp):
    cases = [(["--comm", "udp"], "--comm udp"), (["--allreduce", "f16"], "--allreduce f16"),
             (["--bucket-mb", "0"], "--bucket-mb"), (["--comm-timeout", "-1"], "--comm-timeout"),
             (["--allreduce", "bf16", "--offload", "host"], "--allreduce bf16 with --offload")]
    for args, needle in cases:
        result = launch.one(*TINY, *args)
        if result.returncode != 2 or needle not in result.stderr:
            fail(f"cltrain {' '.join(args)} should exit 2 naming {needle!r}", result)
    result = launch.one("--help")
    for flag in ("--comm", "--allreduce", "--shard", "--bucket-mb", "--comm-timeout"):
        if flag not in result.stdout:
            fail(f"cltrain --help does not document {flag}", result)


def check_no_mpi(launch, tmp):
    env = dict(os.environ)
    env["OMPI_COMM_WORLD_SIZE"] = "2"
    result = launch.one(*TINY, "--steps", "1", env=env)
    want = ("cltrain: this launch has 2 ranks (OMPI_COMM_WORLD_SIZE=2) but this cltrain "
            "was built without MPI; rebuild with -DCLT_MPI=ON (Debian: apt-get install "
            "libopenmpi-dev), or run one process")
    if result.returncode != 1 or want not in result.stderr:
        fail("a 2-rank launch of a build without MPI should be refused", result)
    if "training on" in result.stderr:
        fail("the refused launch started training", result)


CHECKS = {"equivalence": check_equivalence, "resume": check_resume, "offload": check_offload,
          "signal": check_signal, "rank-dies": check_rank_dies, "rank-hangs": check_rank_hangs,
          "save-fails": check_save_fails, "flags": check_flags, "no-mpi": check_no_mpi}

if __name__ == "__main__":
    if len(sys.argv) not in (3, 4) or sys.argv[1] not in CHECKS or \
            (sys.argv[1] not in ("no-mpi", "flags") and len(sys.argv) != 4):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    launcher = Launcher(*sys.argv[2:])
    with tempfile.TemporaryDirectory() as tmpdir:
        CHECKS[sys.argv[1]](launcher, tmpdir)
