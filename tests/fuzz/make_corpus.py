#!/usr/bin/env python3
"""Writes the seed corpus of every fuzz target (tests/fuzz/corpus/<target>/) and their
dictionaries (tests/fuzz/<target>.dict): small valid inputs and near-valid ones (a real
tiny safetensors file and the same file truncated, with a wrong length, overlapping
tensors, ...), and every input that once crashed a target, so that CI replays it.

Usage: make_corpus.py [OUT_DIR]   (default: the directory of this script)

Each corpus directory is emptied and rewritten, so the corpus is exactly what this
script says; an input worth keeping (a crash found by a long run) is added below, not
copied in by hand. Deterministic: the same script writes the same bytes.
"""
import json
import os
import shutil
import struct
import sys

SEP = b"\n#CLT-FUZZ-NEXT#\n"  # FUZZ_SEP in fuzz_util.h

DTYPE_SIZE = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "I16": 2,
              "U16": 2, "F16": 2, "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "F64": 8,
              "I64": 8, "U64": 8}


def numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def safetensors(tensors, metadata=None, pad=False):
    """A file as the reference writer makes it: tensors is a list of (name, dtype, shape),
    data bytes 0, 1, 2, ... in order; pad: the header padded with spaces to 8 bytes."""
    header, data, offset = {}, b"", 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape in tensors:
        n = numel(shape) * DTYPE_SIZE[dtype]
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + n]}
        data += bytes((offset + i) % 251 for i in range(n))
        offset += n
    text = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        text += b" " * (-len(text) % 8)
    return raw(text, data)


def raw(header, data=b"", length=None):
    """8-byte little-endian length (that of header unless given), header, data."""
    return struct.pack("<Q", len(header) if length is None else length) + header + data


def header_of(file):
    (n,) = struct.unpack("<Q", file[:8])
    return file[8:8 + n]


# ---- safetensors ----------------------------------------------------------------------

def safetensors_seeds():
    two = safetensors([("a", "F32", [2, 3]), ("b", "BF16", [4])], {"format": "pt"})
    every = safetensors([(d.lower(), d, [2]) for d in DTYPE_SIZE] +
                        [("scalar", "F32", []), ("empty", "F16", [0, 5]),
                         ("rank8", "U8", [1, 2, 1, 2, 1, 1, 1, 2])],
                        {"step": "12", "note": "caf\u00e9 \U0001F600"}, pad=True)
    seeds = {
        "two-tensors.safetensors": two,
        "every-dtype.safetensors": every,
        "empty-header.safetensors": raw(b"{}"),
        "only-metadata.safetensors": raw(b'{"__metadata__":{"k":"v"}}'),
        "escaped-names.safetensors": raw(
            b'{"\\u00e9\\ud83d\\ude00\\n":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}',
            b"\x01\x02"),
        "truncated-length.safetensors": two[:5],
        "truncated-header.safetensors": two[:8 + len(header_of(two)) // 2],
        "truncated-data.safetensors": two[:-3],
        "trailing-byte.safetensors": two + b"\x00",
        "length-too-long.safetensors": raw(header_of(two), two[8 + len(header_of(two)):],
                                           length=len(two)),
        "length-huge.safetensors": raw(b"{}", length=(1 << 63) + 5),
        "overlap.safetensors": raw(
            b'{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},'
            b'"b":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}}', b"abcd"),
        "gap.safetensors": raw(
            b'{"a":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}}', b"abcd"),
        "wrong-size.safetensors": raw(
            b'{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}', b"abcd"),
        "rank9.safetensors": raw(
            b'{"a":{"dtype":"U8","shape":[1,1,1,1,1,1,1,1,1],"data_offsets":[0,1]}}', b"a"),
        "overflowing-shape.safetensors": raw(
            b'{"a":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}}',
            b"abcdefgh"),
        "duplicate-name.safetensors": raw(
            b'{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},'
            b'"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}', b"ab"),
        "metadata-not-string.safetensors": raw(b'{"__metadata__":{"k":1}}'),
        "unknown-field.safetensors": raw(
            b'{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":[]}}', b"a"),
        "float-offset.safetensors": raw(
            b'{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1.0]}}', b"a"),
        "deep.safetensors": raw(b'{"a":{"dtype":"U8","shape":[[[[1]]]],"data_offsets":[0,1]}}',
                                b"a"),
    }
    return seeds


def json_seeds():
    seeds = {name.replace(".safetensors", ".json"): header_of(file)
             for name, file in safetensors_seeds().items() if len(file) >= 8}
    seeds.update({
        "nested.json": b' [ {"a": [1, -2, {"b": []}]}, "x", 0 ] ',
        "escapes.json": b'"\\"\\\\\\/\\b\\f\\n\\r\\t\\u0041\\u00e9\\ud83d\\ude00"',
        "lone-surrogate.json": b'"\\ud800x"',
        "nul-escape.json": b'"\\u0000"',
        "bad-utf8.json": b'"\xc0\xaf \xed\xa0\x80 \xf4\x90\x80\x80"',
        "int-limits.json": b"[9223372036854775807, -9223372036854775808]",
        "int-overflow.json": b"[9223372036854775808]",
        "leading-zero.json": b"[01]",
        "literals.json": b"[true, false, null]",
        "fraction.json": b"[1.5e3]",
        "deep.json": b"[" * 70 + b"]" * 70,
        "unterminated.json": b'{"a": "b',
        "trailing.json": b"{} x",
    })
    return seeds


# ---- cltrain checkpoints ----------------------------------------------------------------

STATE_TENSORS = [("exp_avg", "F32", [2, 3]), ("codes", "U8", [4, 4]), ("absmax", "F32", [2]),
                 ("scale", "BF16", [4]), ("count", "I32", [1])]  # fuzz_checkpoint.c


def model_file(ckpt_id=None, layers=1, heads=1, dim=32, ctx=2, vocab=3, wte_rows=None):
    meta = {"format": "pt", "n_layer": str(layers), "n_head": str(heads),
            "n_embd": str(dim), "n_ctx": str(ctx), "vocab_size": str(vocab),
            "clt_version": "0.1.0"}
    if ckpt_id:
        meta["checkpoint_id"] = ckpt_id
    # config_of_file looks at the embeddings' shapes only; U8 keeps the seed small.
    return safetensors([("wte.weight", "U8", [vocab if wte_rows is None else wte_rows, dim]),
                        ("wpe.weight", "U8", [ctx, dim])], meta)


def state_file(ckpt_id=None, tensors=STATE_TENSORS, **fields):
    meta = {"step": "7", "opt_step": "7", "good_steps": "7", "tokens_seen": "448",
            "loss_scale": "0x1p+0", "data_rng": "0123456789abcdef" * 4, "seed": "1337",
            "optimizer": "adamw", "dtype": "f32", "clt_version": "0.1.0"}
    meta.update(fields)
    if ckpt_id:
        meta["checkpoint_id"] = ckpt_id
    return safetensors(tensors, meta)


def checkpoint_seeds():
    a, b = "00000000000000aa-1", "00000000000000bb-2"
    return {
        "pair.bin": model_file(a) + SEP + state_file(a),
        "pair-without-ids.bin": model_file() + SEP + state_file(),
        "interrupted-model-rename.bin":
            model_file(a) + SEP + state_file(b) + SEP + model_file(b),
        "interrupted-state-rename.bin":
            model_file(b) + SEP + state_file(a) + SEP + SEP + state_file(b),
        "ids-differ.bin": model_file(a) + SEP + state_file(b),
        "state-only.bin": SEP + state_file(a) + SEP + model_file(a),
        "wrong-state-dtype.bin": model_file(a) + SEP + state_file(
            a, [("exp_avg", "F16", [2, 3])] + STATE_TENSORS[1:]),
        "missing-state-tensor.bin": model_file(a) + SEP + state_file(a, STATE_TENSORS[1:]),
        "bad-config.bin": model_file(a, heads=3) + SEP + state_file(a),
        "embedding-contradicts.bin": model_file(a, wte_rows=4) + SEP + state_file(a),
        "long-field.bin": model_file(a) + SEP + state_file(a, step="9" * 100),
        "truncated-state.bin": model_file(a) + SEP + state_file(a)[:-5],
    }


# ---- cltrain's data ---------------------------------------------------------------------

def data_header(as_dir=False, ctx=4, val=64, batch=2, t=3, seed=1, k=0):
    return bytes([1 if as_dir else 0, ctx - 1, val - 1, batch - 1, t - 1, seed]) + \
        struct.pack("<q", k)


def data_seeds():
    text = b"It was the best of times, it was the worst of times.\n" * 3
    utf8 = "na\u00efve caf\u00e9 \u2014 \U0001F600 \u65e5\u672c\n".encode() * 4
    return {
        "one-file.bin": data_header() + text,
        "two-files.bin": data_header(ctx=8, t=8) + text + SEP + utf8,
        "wrapping-windows.bin": data_header(ctx=4, t=8, k=-1) + text,
        "huge-k.bin": data_header(k=-(1 << 63)) + text,
        "directory.bin": data_header(as_dir=True) + text + SEP + b"%\n" + SEP + b"hidden" +
            SEP + utf8,
        "directory-index-only.bin": data_header(as_dir=True) + SEP + text,
        "too-small.bin": data_header(ctx=64) + b"short",
        "empty-file.bin": data_header() + text + SEP,
        "nul-byte.bin": data_header() + b"abc\x00def" * 8,
        "overlong.bin": data_header() + text + b"\xc0\xaf",
        "surrogate.bin": data_header() + text + b"\xed\xa0\x80",
        "cut-off.bin": data_header() + text + b"\xe2\x82",
        "above-10ffff.bin": data_header() + text + b"\xf4\x90\x80\x80",
    }


# ---- command lines ----------------------------------------------------------------------

def argv(*args):
    return b"\0".join(a.encode() for a in args)


def args_seeds():
    return {
        "all-kinds.bin": argv("--flag", "--str", "s", "--num=-12", "--real", "1e-3",
                              "--list", "a", "--list=b", "pos", "-o", "f"),
        "double-dash.bin": argv("a", "--", "--flag", "-", "b"),
        "bad-int.bin": argv("--num", "12x"),
        "int-range.bin": argv("--num", "99999999999999999999"),
        "nan.bin": argv("--real", "nan"),
        "missing-value.bin": argv("--str"),
        "flag-value.bin": argv("--flag=1"),
        "unknown.bin": argv("--nope"),
        "list-65.bin": argv(*(["--list", "v"] * 65)),
    }


def cltrain_args_seeds():
    return {
        "train.bin": argv("train", "--model", "tiny", "--steps", "100", "--lr", "3e-4",
                          "--batch", "4", "--accum", "2", "--data", "a.txt", "--data", "b"),
        "default-command.bin": argv("--layers", "2", "--heads", "2", "--dim", "64", "--ctx",
                                    "32", "--optimizer", "adamw8bit", "--dtype", "bf16"),
        "offload-nvme.bin": argv("--offload", "nvme", "--nvme-dir", "/nonexistent",
                                 "--device-mem", "512M", "--host-mem", "2G"),
        "offload-without-dir.bin": argv("--offload", "nvme"),
        "bad-size.bin": argv("--device-mem", "12Q"),
        "resume.bin": argv("--resume", "/nonexistent", "--steps", "5", "--warmup", "9"),
        "ranges.bin": argv("--steps", "0", "--top-k", "-1", "--min-lr", "2"),
        "sample.bin": argv("sample", "--ckpt", "/nonexistent", "--tokens", "10",
                           "--temperature", "0.5", "--prompt", "hi"),
        "plot.bin": argv("plot", "m.jsonl", "-o", "loss.png"),
        "help.bin": argv("train", "--help"),
        "unknown-command.bin": argv("fly"),
        # Found by fuzz_cltrain_args: clt_parse_size took an exponent in the fraction
        # and converted 1e49 to uint64_t (undefined behaviour, runtime/size.c).
        "crash-size-exponent.bin": argv("--device-mem", "0.1e50"),
    }


def bench_args_seeds():
    return {
        "gemm.bin": argv("gemm", "--shape", "128x256x64:ta", "--shape", "1x1x1:tatb",
                         "--dtype", "bf16", "--repeat", "3", "--json"),
        "gemm-bad-shape.bin": argv("gemm", "--shape", "0x1x1"),
        "attention.bin": argv("attention", "--seq", "256", "--seq", "512", "--batch", "2",
                              "--heads", "4", "--dim", "64", "--no-causal"),
        "attention-too-big.bin": argv("attention", "--batch", "65536", "--heads", "65536",
                                      "--seq", "1048576", "--dim", "1024"),
        "softmax.bin": argv("softmax", "--shape", "32x50257", "--rows", "4", "--cols", "8",
                            "--dtype", "all"),
        "optim.bin": argv("optim", "--params", "1000", "--quick"),
        "offload.bin": argv("offload", "--size", "64M", "--nvme-dir", "/nonexistent"),
        "two-benchmarks.bin": argv("softmax", "gemm"),
        "not-yet.bin": argv("--quick", "attention", "--", "x"),
        "help.bin": argv("offload", "--help"),
        # Found by fuzz_bench_args: the default lengths escaped the 2^34-element limit
        # that explicit --seq values meet (clt-bench tried to allocate 2^54 bytes).
        "crash-attention-default-lengths.bin": argv("attention", "--batch", "65536",
                                                    "--heads", "65536", "--dim", "1023"),
    }


# ---- dictionaries -----------------------------------------------------------------------

def quoted(tokens):
    out = []
    for t in tokens:
        esc = "".join(c if (c.isascii() and c.isalnum()) or c in "_-.:=" else "\\x%02x" % ord(c) for c in t)
        out.append('"%s"' % esc)
    return "\n".join(out) + "\n"


HEADER_TOKENS = (['"dtype"', '"shape"', '"data_offsets"', '"__metadata__"', "[", "]", "{",
                  "}", ":", ",", "\\u", "\\ud83d\\ude00", "9223372036854775807", "-1"] +
                 ['"%s"' % d for d in DTYPE_SIZE])

DICTS = {
    "json": HEADER_TOKENS,
    "safetensors": HEADER_TOKENS,
    "checkpoint": HEADER_TOKENS + [SEP.decode(), '"checkpoint_id"', '"n_layer"', '"n_head"',
                                   '"n_embd"', '"n_ctx"', '"vocab_size"', '"wte.weight"',
                                   '"wpe.weight"', '"step"', '"loss_scale"', '"data_rng"'] +
                  ['"%s"' % t[0] for t in STATE_TENSORS],
    "data": [SEP.decode(), "\xc3\xa9", "\xed\xa0\x80", "\xf0\x9f\x98\x80", "\n"],
    "cltrain_args": ["\0", "train", "sample", "plot", "--help", "--model", "tiny", "--layers",
                     "--heads", "--dim", "--ctx", "--data", "--steps", "--stop-at", "--batch",
                     "--accum", "--lr", "--min-lr", "--warmup", "--weight-decay", "--clip",
                     "--optimizer", "adamw8bit", "lamb", "sgd", "--dtype", "bf16", "f16",
                     "--device", "--seed", "--offload", "nvme", "host", "--device-mem",
                     "--host-mem", "--nvme-dir", "--out", "--resume", "--ckpt-every",
                     "--metrics", "--eval-every", "--eval-batches", "--log-every",
                     "--sample", "--temperature", "--top-k", "--ckpt", "--tokens",
                     "--prompt", "-o", "--", "512M", "1e-3"],
    "bench_args": ["\0", "gemm", "attention", "softmax", "optim", "offload", "--device",
                   "--json", "--tune", "--quick", "--repeat", "--dtype", "all", "bf16",
                   "--shape", ":tatb", "--batch", "--heads", "--dim", "--seq", "--causal",
                   "--no-causal", "--rows", "--cols", "--params", "--size", "--nvme-dir",
                   "--help", "--", "64M", "65536"],
    "args": ["\0", "--flag", "--str", "--num", "--real", "--list", "-o", "--", "=", "nan",
             "inf", "1e308"],
}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    corpora = {"safetensors": safetensors_seeds(), "json": json_seeds(),
               "checkpoint": checkpoint_seeds(), "data": data_seeds(), "args": args_seeds(),
               "cltrain_args": cltrain_args_seeds(), "bench_args": bench_args_seeds()}
    for target, seeds in corpora.items():
        d = os.path.join(out, "corpus", target)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        for name, data in sorted(seeds.items()):
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
        print("%-13s %3d seeds, %6d bytes" % (target, len(seeds),
                                              sum(len(v) for v in seeds.values())))
    for target, tokens in DICTS.items():
        with open(os.path.join(out, target + ".dict"), "w") as f:
            f.write("# libFuzzer dictionary of fuzz_%s, written by make_corpus.py\n" % target)
            f.write(quoted(tokens))


if __name__ == "__main__":
    main()
