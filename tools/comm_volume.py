#!/usr/bin/env python3
"""Communication volume of one data-parallel training step, and the scaling it predicts.

For cltrain's model presets (or a parameter count) and N ranks, it prints the bytes each
rank sends per optimizer step with ring algorithms — the model docs/distributed.md
explains and clt_comm_stats.bytes_sent_model counts —

    all-reduce of the gradients        2(N-1)/N x E x w     (w: 4 for f32, 2 for bf16)
    all-gather of the f32 masters      (N-1)/N x E x 4      (ZeRO-1 sharding only)

where E is the number of elements of cltrain's parameter layout (every tensor padded to
a multiple of 64 elements, as tools/cltrain/gpt_layout.c lays them out), and the step
time this predicts on a network of 25 GB/s and of 100 GB/s per rank:

    without overlap   T = Tc + Tar + Tag
    with overlap      T = Tc + max(Tar - Tbwd, Tar x last bucket / E) + Tag

Tc is one rank's compute time per step (--compute-s; by default the model's FLOPs per
step at --tflops, see below), Tbwd = 2/3 Tc the backward pass the all-reduce hides
behind, and the last bucket's share the part that cannot start before the backward pass
ends. The all-gather follows the optimizer step, so nothing hides it. Efficiency is
Tc / T; the speed-up over one rank at the same per-rank batch is N x Tc / T. Latency
(per-message start-up) is left out: it matters only for small buckets on many ranks.

The default Tc: 6 x P + 12 x layers x dim x ctx FLOPs per token (training, PaLM's
count with attention), times batch x ctx tokens per rank, at a sustained 10 TFLOP/s
(--tflops: about two thirds of a V100's f32 peak). Pass the ms/step cltrain reports
(--compute-s 0.25) for a measured figure.

Usage: comm_volume.py [--model tiny|small|gpt2 ...] [--params P] [--layers N --dim N
       --ctx N] [--ranks 2,8,64] [--wire f32|bf16|both] [--shard no|yes|both]
       [--compute-s X] [--tflops X] [--batch N] [--bucket-mb X] [--json]
"""
import argparse
import json
import sys

LAYOUT_ALIGN = 64          # elements: tools/cltrain/gpt_layout.h
VOCAB = 256                # cltrain's byte vocabulary
BANDWIDTHS_GBS = (25.0, 100.0)
WIRE_BYTES = {"f32": 4, "bf16": 2}
MASTER_BYTES = 4           # the all-gathered masters are f32
BACKWARD_SHARE = 2.0 / 3.0 # backward does 4 of the 6 FLOPs per parameter and token

# tools/cltrain/gpt_layout.c: {layers, heads, dim, ctx}
PRESETS = {
    "tiny": (2, 2, 64, 64),
    "small": (6, 6, 384, 256),
    "gpt2": (12, 12, 768, 1024),
}


def align_up(n):
    return (n + LAYOUT_ALIGN - 1) // LAYOUT_ALIGN * LAYOUT_ALIGN


def gpt_tensor_sizes(layers, dim, ctx):
    """The element count of every tensor of cltrain's GPT, in layout order."""
    c = dim
    sizes = [VOCAB * c, ctx * c]                      # wte, wpe
    per_layer = [c, c,                                # ln_1 weight, bias
                 c * 3 * c, 3 * c,                    # attn.c_attn
                 c * c, c,                            # attn.c_proj
                 c, c,                                # ln_2
                 c * 4 * c, 4 * c,                    # mlp.c_fc
                 4 * c * c, c]                        # mlp.c_proj
    sizes += per_layer * layers
    sizes += [c, c]                                   # ln_f
    return sizes


def gpt_counts(layers, dim, ctx):
    """(parameters, layout elements with padding) as gpt_params_layout counts them."""
    sizes = gpt_tensor_sizes(layers, dim, ctx)
    return sum(sizes), sum(align_up(n) for n in sizes)


def step_flops(params, layers, dim, ctx, batch):
    """Training FLOPs of one rank's step: (6P + 12·L·C·T) per token, batch·ctx tokens."""
    return (6 * params + 12 * layers * dim * ctx) * batch * ctx


def volume(elements, ranks, wire, shard):
    """Bytes one rank sends per step: (all-reduce, all-gather)."""
    n = ranks
    allreduce = 2 * (n - 1) * elements * WIRE_BYTES[wire] // n if n > 1 else 0
    allgather = (n - 1) * elements * MASTER_BYTES // n if shard and n > 1 else 0
    return allreduce, allgather


def predict(compute_s, allreduce, allgather, grad_bytes, bucket_bytes, gbs, ranks):
    """Step time without and with overlap on a link of gbs GB/s, efficiency, speed-up."""
    bw = gbs * 1e9
    t_ar, t_ag = allreduce / bw, allgather / bw
    last_share = min(bucket_bytes, grad_bytes) / grad_bytes if grad_bytes else 0.0
    exposed_ar = max(t_ar - BACKWARD_SHARE * compute_s, t_ar * last_share)
    plain = compute_s + t_ar + t_ag
    overlapped = compute_s + exposed_ar + t_ag
    return {
        "gbs": gbs,
        "allreduce_s": t_ar,
        "allgather_s": t_ag,
        "step_s": plain,
        "step_overlap_s": overlapped,
        "efficiency": compute_s / plain,
        "efficiency_overlap": compute_s / overlapped,
        "speedup": ranks * compute_s / plain,
        "speedup_overlap": ranks * compute_s / overlapped,
    }


def parse_ranks(text):
    try:
        ranks = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        ranks = []
    if not ranks or any(r < 1 for r in ranks):
        raise argparse.ArgumentTypeError("--ranks: a comma-separated list of counts >= 1, "
                                         "got '%s'" % text)
    return ranks


def positive(kind):
    def parse(text):
        try:
            v = kind(text)
        except ValueError:
            v = 0
        if not v > 0:
            raise argparse.ArgumentTypeError("'%s' is not a positive number" % text)
        return v
    return parse


def models_from(args):
    """[(name, params, elements, flops per step or None)]"""
    out = []
    if args.params is not None:
        out.append(("params=%d" % args.params, args.params, args.params, None))
    names = args.model or ([] if args.params is not None else list(PRESETS))
    for name in names:
        layers, _, dim, ctx = PRESETS[name]
        layers = args.layers or layers
        dim = args.dim or dim
        ctx = args.ctx or ctx
        label = name if (layers, dim, ctx) == (PRESETS[name][0], PRESETS[name][2],
                                                PRESETS[name][3]) else \
            "%s(L%d,C%d,T%d)" % (name, layers, dim, ctx)
        params, elements = gpt_counts(layers, dim, ctx)
        out.append((label, params, elements,
                    step_flops(params, layers, dim, ctx, args.batch)))
    return out


def build_rows(args):
    wires = ["f32", "bf16"] if args.wire == "both" else [args.wire]
    shards = [False, True] if args.shard == "both" else [args.shard == "yes"]
    bucket_bytes = int(args.bucket_mb * 1024 * 1024)
    models, rows = [], []
    for label, params, elements, flops in models_from(args):
        if args.compute_s is not None:
            compute_s = args.compute_s
        elif flops is not None:
            compute_s = flops / (args.tflops * 1e12)
        else:
            sys.exit("comm_volume.py: --params needs --compute-s (no model shape to count "
                     "FLOPs from)")
        models.append({"model": label, "params": params, "elements": elements,
                       "compute_s": compute_s})
        for ranks in args.ranks:
            for wire in wires:
                for shard in shards:
                    ar, ag = volume(elements, ranks, wire, shard)
                    grad_bytes = elements * WIRE_BYTES[wire]
                    rows.append({
                        "model": label, "ranks": ranks, "wire": wire, "shard": shard,
                        "elements": elements,
                        "allreduce_bytes": ar, "allgather_bytes": ag,
                        "bytes_per_rank": ar + ag,
                        "compute_s": compute_s,
                        "networks": [predict(compute_s, ar, ag, grad_bytes, bucket_bytes,
                                             gbs, ranks) for gbs in BANDWIDTHS_GBS],
                    })
    return models, rows


def print_table(args, models, rows):
    print("Per rank and optimizer step: ring all-reduce 2(N-1)/N x E x w; with ZeRO-1, "
          "all-gather (N-1)/N x E x 4.")
    print("E: layout elements (tensors padded to 64); w: wire bytes; buckets of %g MiB; "
          "backward = 2/3 of compute." % args.bucket_mb)
    for m in models:
        print("  %-12s %12d parameters %12d elements   compute %.2f ms/step" %
              (m["model"], m["params"], m["elements"], m["compute_s"] * 1e3))
    print()
    head = "%-12s %4s %4s %5s %9s" % ("model", "N", "wire", "zero1", "MB/rank")
    for gbs in BANDWIDTHS_GBS:
        head += " | %3g GB/s: %7s %5s %5s" % (gbs, "comm ms", "eff", "ovl")
    print(head)
    print("-" * len(head))
    for r in rows:
        line = "%-12s %4d %4s %5s %9.2f" % (r["model"], r["ranks"], r["wire"],
                                            "yes" if r["shard"] else "no",
                                            r["bytes_per_rank"] / 1e6)
        for p in r["networks"]:
            line += " | %9s %7.2f %4.0f%% %4.0f%%" % (
                "", (p["allreduce_s"] + p["allgather_s"]) * 1e3, p["efficiency"] * 100,
                p["efficiency_overlap"] * 100)
        print(line)
    print()
    print("comm ms: all-reduce + all-gather at that bandwidth; eff: compute / step time "
          "without overlap; ovl: with the")
    print("all-reduce behind the backward pass. Speed-up over one rank at the same "
          "per-rank batch: N x eff.")


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="comm_volume.py",
        description="Bytes per rank per data-parallel step and the scaling they predict "
                    "(docs/distributed.md).")
    ap.add_argument("--model", action="append", choices=sorted(PRESETS),
                    help="cltrain preset, repeatable (default: all three)")
    ap.add_argument("--params", type=positive(int),
                    help="a parameter count instead of a preset (no padding)")
    ap.add_argument("--layers", type=positive(int), help="override the presets' layers")
    ap.add_argument("--dim", type=positive(int), help="override the presets' width")
    ap.add_argument("--ctx", type=positive(int), help="override the presets' context")
    ap.add_argument("--ranks", type=parse_ranks, default=[2, 8, 64],
                    help="rank counts, comma-separated (2,8,64)")
    ap.add_argument("--wire", choices=["f32", "bf16", "both"], default="both",
                    help="gradient dtype on the wire (both)")
    ap.add_argument("--shard", choices=["no", "yes", "both"], default="both",
                    help="ZeRO-1 optimizer sharding (both)")
    ap.add_argument("--compute-s", type=positive(float),
                    help="one rank's compute time per step in seconds (default: FLOPs "
                         "at --tflops)")
    ap.add_argument("--tflops", type=positive(float), default=10.0,
                    help="sustained TFLOP/s for the default compute time (10)")
    ap.add_argument("--batch", type=positive(int), default=8,
                    help="sequences per rank per step for the default compute time (8)")
    ap.add_argument("--bucket-mb", type=positive(float), default=25.0,
                    help="MiB of gradients per all-reduce bucket, as cltrain's --bucket-mb (25)")
    ap.add_argument("--json", action="store_true", help="one JSON document on stdout")
    args = ap.parse_args(argv)
    models, rows = build_rows(args)
    if args.json:
        json.dump({"bandwidths_gbs": list(BANDWIDTHS_GBS), "bucket_mb": args.bucket_mb,
                   "backward_share": BACKWARD_SHARE, "models": models, "rows": rows},
                  sys.stdout, indent=1)
        print()
    else:
        print_table(args, models, rows)


if __name__ == "__main__":
    main()
