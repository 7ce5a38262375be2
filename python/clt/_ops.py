"""Every op of include/clt/op.h as a Python function: clt.gemm(ctx, a, b, c, ...).

Tensor arguments take a clt.Tensor or a NumPy array. An array is uploaded for the call
(shared without a copy where the library can wrap it) and, when the op writes that
argument, the result is written back into it — so NumPy arrays go in and come out. The
same array object passed twice is one tensor, which is how "y may be x" is asked for.
Validation is the library's: a bad shape raises clt.InvalidArgument whose message names
the op and the argument."""
import numpy as np

from . import _lib
from ._core import OP_TIERS, Buffer, Tensor, _to_storage, FROM_NUMPY
from ._errors import check, invalid

IN, OUT, OPT_IN, OPT_OUT = "in", "out", "opt_in", "opt_out"

_HPARAMS = [("lr", 1e-3), ("beta1", 0.9), ("beta2", 0.999), ("eps", 1e-8),
            ("weight_decay", 0.0), ("nesterov", False), ("step", 1), ("grad_scale", 1.0)]

# op name -> (tensor arguments with their role, scalar arguments with their default), in
# the order of the C struct; tensors come first in a call, then scalars by keyword.
SPECS = {
    "gemm": ([("a", IN), ("b", IN), ("c", OUT), ("bias", OPT_IN)],
             [("trans_a", False), ("trans_b", False), ("alpha", 1.0), ("beta", 0.0)]),
    "attention_fwd": ([("q", IN), ("k", IN), ("v", IN), ("o", OUT), ("lse", OUT)],
                      [("scale", None), ("causal", True)]),
    "attention_bwd": ([("q", IN), ("k", IN), ("v", IN), ("o", IN), ("dout", IN), ("lse", IN),
                       ("delta", OUT), ("dq", OUT), ("dk", OUT), ("dv", OUT)],
                      [("scale", None), ("causal", True)]),
    "softmax": ([("x", IN), ("y", OUT)], [("algo", 0)]),
    "softmax_bwd": ([("y", IN), ("dy", IN), ("dx", OUT)], []),
    "layernorm_fwd": ([("x", IN), ("weight", IN), ("bias", IN), ("out", OUT), ("mean", OUT),
                       ("rstd", OUT)], [("eps", 1e-5)]),
    "layernorm_bwd": ([("dout", IN), ("x", IN), ("weight", IN), ("mean", IN), ("rstd", IN),
                       ("dx", OUT), ("dweight", OUT), ("dbias", OUT)], [("accumulate", False)]),
    "gelu_fwd": ([("x", IN), ("y", OUT)], []),
    "gelu_bwd": ([("x", IN), ("dy", IN), ("dx", OUT)], []),
    "embedding_fwd": ([("tokens", IN), ("wte", IN), ("wpe", OPT_IN), ("out", OUT)], []),
    "embedding_bwd": ([("dout", IN), ("tokens", IN), ("dwte", OUT), ("dwpe", OPT_OUT)],
                      [("accumulate", False)]),
    "cross_entropy_fwd": ([("logits", IN), ("targets", IN), ("loss", OUT), ("lse", OUT)],
                          [("ignore_index", -100)]),
    "cross_entropy_bwd": ([("logits", IN), ("targets", IN), ("lse", IN), ("dlogits", OUT)],
                          [("dloss", 1.0), ("ignore_index", -100)]),
    "add": ([("a", IN), ("b", IN), ("out", OUT)], [("alpha", 1.0), ("beta", 1.0)]),
    "scale": ([("x", OUT)], [("alpha", 1.0)]),
    "bias_add": ([("y", OUT), ("bias", IN)], []),
    "bias_grad": ([("dy", IN), ("dbias", OUT)], [("accumulate", False)]),
    "sqnorm": ([("x", IN), ("norm", OUT)], [("accumulate", False)]),
    "adamw": ([("param", OUT), ("grad", IN), ("m", OUT), ("v", OUT), ("m_absmax", OPT_OUT),
               ("v_absmax", OPT_OUT), ("param_copy", OPT_OUT), ("gate", OPT_IN)],
              _HPARAMS + [("block", 0)]),
    "sgd": ([("param", OUT), ("grad", IN), ("momentum", OPT_OUT), ("momentum_absmax", OPT_OUT),
             ("param_copy", OPT_OUT), ("gate", OPT_IN)], _HPARAMS + [("block", 0)]),
    "quantize8": ([("x", IN), ("codes", OUT), ("absmax", OUT)],
                  [("is_signed", True), ("block", 0)]),
    "dequantize8": ([("codes", IN), ("absmax", IN), ("x", OUT)],
                    [("is_signed", True), ("block", 0)]),
}
SPECS["lamb"] = SPECS["adamw"]
SOFTMAX_ALGOS = {"two_pass": 0, "three_pass": 1}
_HPARAM_NAMES = {name for name, _ in _HPARAMS}
_OPTIM_OPS = ("adamw", "sgd", "lamb")  # their hyperparameters sit in args.h


class _Staged:
    """NumPy arguments of one call, uploaded once each, and written back after it."""

    def __init__(self, ctx, op):
        self.ctx, self.op = ctx, op
        self.by_id = {}       # id(array) -> (array, tensor)
        self.written = {}     # id(array) -> (array, tensor) to copy back

    def tensor(self, name, value, role):
        if isinstance(value, Tensor):
            return value
        if not isinstance(value, np.ndarray):
            raise invalid(f"clt.{self.op}", f"argument {name}: expected a clt.Tensor or a "
                          f"NumPy array, got {type(value).__name__}")
        key = id(value)
        if key not in self.by_id:
            code = FROM_NUMPY.get(value.dtype)
            if code is None:
                raise invalid(f"clt.{self.op}", f"argument {name}: NumPy dtype {value.dtype} "
                              "has no clt storage type (float32, float16, int32, uint8; "
                              "upload bf16 with clt.Tensor.from_numpy(..., dtype='bf16'))")
            self.by_id[key] = (value, self._upload(value, code))
        arr, t = self.by_id[key]
        if role in (OUT, OPT_OUT) and t.shared_view() is None:
            if not arr.flags.writeable:
                raise invalid(f"clt.{self.op}", f"argument {name}: the op writes it and the "
                              "array is read-only")
            self.written[key] = (arr, t)
        return t

    def _upload(self, arr, code):
        arr = _to_storage(arr, code)
        shape = arr.shape if arr.ndim else (1,)
        if arr.flags.c_contiguous and arr.flags.aligned and arr.flags.writeable:
            buf = Buffer.from_numpy(self.ctx, arr, copy=False)
            if buf.wrapped and buf.tier in ("device", "host_pinned"):
                return Tensor(buf, shape, code)
            buf.free()
        return Tensor(Buffer.from_numpy(self.ctx, arr), shape, code)

    def write_back(self):
        for arr, t in self.written.values():
            arr[...] = t.raw().reshape(arr.shape)

    def free(self):
        for _, t in self.by_id.values():
            t.buffer.free()


def run(ctx, op, *tensors, **kwargs):
    """Runs op `op` (a name of clt.OPS) on ctx: tensor arguments positionally or by name,
    scalars by name. Returns None; results are in the output tensors/arrays."""
    if op not in SPECS:
        raise invalid("clt.run", f"no op named {op!r}; ops: {', '.join(SPECS)}")
    tspec, sspec = SPECS[op]
    call = f"clt.{op}"
    if len(tensors) > len(tspec):
        raise invalid(call, f"{len(tensors)} positional arguments; it takes the tensors "
                      f"{', '.join(n for n, _ in tspec)}")
    values = dict(zip((n for n, _ in tspec), tensors))
    known = {n for n, _ in tspec} | {n for n, _ in sspec}
    for k, v in kwargs.items():
        if k not in known:
            raise invalid(call, f"no argument named {k!r}; it takes "
                          f"{', '.join(n for n, _ in tspec + sspec)}")
        if k in values:
            raise invalid(call, f"argument {k} given twice")
        values[k] = v

    c_op = _lib.Op()
    c_op.kind = _lib.OP_KIND[op]
    args = getattr(c_op.u, op)
    staged = _Staged(ctx, op)
    try:
        for name, role in tspec:
            value = values.get(name)
            if value is None:
                if role in (IN, OUT):
                    raise invalid(call, f"argument {name} is missing")
                continue  # an absent optional tensor: buf NULL
            setattr(args, name, staged.tensor(name, value, role).c())
        for name, default in sspec:
            value = values.get(name, default)
            if name == "scale" and value is None:  # attention: 1/sqrt(head dim)
                value = 1.0 / float(np.sqrt(args.q.shape[3]))
            if name == "algo" and isinstance(value, str):
                value = SOFTMAX_ALGOS[value]
            target = args.h if name in _HPARAM_NAMES and op in _OPTIM_OPS else args
            setattr(target, name, value)
        check(_lib.op_run(ctx.handle, c_op, None), f"clt_op_run({op})")
        staged.write_back()
    finally:
        staged.free()


def _make(op):
    tspec, sspec = SPECS[op]

    def fn(ctx, *tensors, **kwargs):
        return run(ctx, op, *tensors, **kwargs)
    fn.__name__ = op
    fn.__qualname__ = op
    fn.__doc__ = (f"clt op {op}({', '.join(n for n, _ in tspec)}; "
                  f"{', '.join(f'{n}={d!r}' for n, d in sspec)}). See include/clt/op.h.")
    return fn


OPS = {op: _make(op) for op in SPECS}
