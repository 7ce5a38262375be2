"""Overhead of one small op call from Python vs from C: the median time of an elementwise
add of N floats (default 16) on a device, per call, over many calls, measured in one run:

  c            clt_op_run in a C loop (clt-call-overhead, built by CMake in BUILD/python)
  ctypes       clt_op_run through ctypes on a prepared clt_op: the binding's floor
  tensors      clt.add(ctx, a, b, out) on clt.Tensor arguments: builds the clt_op each call
  numpy        clt.add(ctx, a, b, out) on NumPy arrays: uploads, runs, reads back

usage: CLT_LIBRARY=BUILD/libclt.so PYTHONPATH=python python3 bench_call_overhead.py
           [--c-bench BUILD/python/clt-call-overhead] [--device host] [--n 16]
           [--calls 20000] [--json]"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

import clt
from clt import _lib


def median_ns(fn, calls):
    times = []
    for _ in range(calls):
        t0 = time.perf_counter_ns()
        fn()
        times.append(time.perf_counter_ns() - t0)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--c-bench", default=os.environ.get("CLT_CALL_OVERHEAD"))
    ap.add_argument("--device", default="host")
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--calls", type=int, default=20000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    res = {"device": args.device, "n": args.n, "calls": args.calls}
    if args.c_bench:
        out = subprocess.run([args.c_bench, args.device, str(args.n), str(args.calls)],
                             check=True, capture_output=True, text=True).stdout
        res["c_ns"] = json.loads(out)["median_ns"]
    with clt.Context(args.device) as ctx:
        a, b = np.ones(args.n, np.float32), np.ones(args.n, np.float32)
        out = np.zeros(args.n, np.float32)
        ta, tb, tout = ctx.tensor(a), ctx.tensor(b), ctx.tensor(out)

        op = _lib.Op()
        op.kind = _lib.OP_KIND["add"]
        op.u.add.a, op.u.add.b, op.u.add.out = ta.c(), tb.c(), tout.c()
        op.u.add.alpha = op.u.add.beta = 1.0
        run, handle = _lib.op_run, ctx.handle

        def raw():
            if run(handle, op, None) != 0:
                raise clt.CltError(1, _lib.last_error().decode())
        res["ctypes_ns"] = median_ns(raw, args.calls)
        res["tensors_ns"] = median_ns(lambda: clt.add(ctx, ta, tb, tout), args.calls)
        res["numpy_ns"] = median_ns(lambda: clt.add(ctx, a, b, out), args.calls // 4)
        np.testing.assert_array_equal(out, a + b)
    if "c_ns" in res:
        for k in ("ctypes", "tensors", "numpy"):
            res[f"{k}_over_c"] = res[f"{k}_ns"] / res["c_ns"]
    if args.json:
        print(json.dumps(res))
    else:
        print(f"add of {args.n} f32 on {args.device}, median per call over {args.calls} calls")
        for k in ("c", "ctypes", "tensors", "numpy"):
            if f"{k}_ns" in res:
                ratio = f"  ({res[k + '_over_c']:.1f}x C)" if k != "c" and "c_ns" in res else ""
                print(f"  {k:8s} {res[k + '_ns'] / 1000:8.2f} us{ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
