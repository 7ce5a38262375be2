"""AdamW8bit (clt, on a clt device) vs torch.optim.AdamW on the CPU: the median step time
for a model of about --params parameters (default 50M), both measured in the same run,
interleaved, on the same gradients.

usage: CLT_LIBRARY=BUILD/libclt.so PYTHONPATH=python python3 bench_torch_optim.py
           [--params 50e6] [--steps 5] [--device host] [--threads N] [--json]"""
import argparse
import json
import statistics
import sys
import time

import torch

import clt.torch as ct


def make_params(total, width=4096):
    """Linear-layer-shaped parameters: (width, width) weights and (width,) biases."""
    params, n = [], 0
    while n < total:
        rows = min(width, max(1, int((total - n) // width)))
        params += [torch.nn.Parameter(torch.randn(rows, width) * 0.02),
                   torch.nn.Parameter(torch.zeros(rows))]
        n += rows * width + rows
    for p in params:
        p.grad = torch.randn_like(p) * 1e-3
    return params, n


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", type=float, default=50e6)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--device", default="host")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: its default)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    params_t, n = make_params(int(args.params))
    params_c = [torch.nn.Parameter(p.detach().clone()) for p in params_t]
    for p, q in zip(params_c, params_t):
        p.grad = q.grad.clone()
    opts = {"torch.optim.AdamW": torch.optim.AdamW(params_t, lr=1e-3),
            "torch.optim.AdamW(foreach)": torch.optim.AdamW(params_t, lr=1e-3, foreach=True),
            "clt.torch.AdamW8bit": ct.AdamW8bit(params_c, lr=1e-3, device=args.device)}
    times = {k: [] for k in opts}
    for name, opt in opts.items():  # first step: state allocation, not timed
        opt.step()
    for _ in range(args.steps):
        for name, opt in opts.items():
            t0 = time.perf_counter()
            opt.step()
            times[name].append(time.perf_counter() - t0)
    res = {"params": n, "steps": args.steps, "device": args.device,
           "torch_threads": torch.get_num_threads(),
           "median_s": {k: statistics.median(v) for k, v in times.items()}}
    base = res["median_s"]["torch.optim.AdamW"]
    res["ratio_to_torch_adamw"] = {k: v / base for k, v in res["median_s"].items()}
    state_bytes = lambda opt: sum(t.numel() * t.element_size() for s in opt.state.values()
                                  for t in s.values() if torch.is_tensor(t))
    res["state_bytes"] = {"torch.optim.AdamW": state_bytes(opts["torch.optim.AdamW"]),
                          "clt.torch.AdamW8bit": state_bytes(opts["clt.torch.AdamW8bit"])}
    if args.json:
        print(json.dumps(res))
    else:
        print(f"{n / 1e6:.1f}M parameters, median of {args.steps} steps, torch threads "
              f"{res['torch_threads']}, clt device {args.device}")
        for k, v in res["median_s"].items():
            print(f"  {k:28s} {v * 1000:9.1f} ms  ({res['ratio_to_torch_adamw'][k]:.2f}x)")
        for k, v in res["state_bytes"].items():
            print(f"  state of {k:19s} {v / 2**20:9.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
