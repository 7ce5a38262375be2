"""Loading libclt and declaring its C API for ctypes.

The structs below mirror include/clt/*.h field for field; tests/test_layout.py checks
their sizes and offsets against the C compiler's (python/tests/layout_probe.c)."""
import ctypes
import ctypes.util
import os
from ctypes import (POINTER, c_bool, c_char, c_char_p, c_double, c_float, c_int,
                    c_int32, c_int64, c_size_t, c_uint8, c_uint64, c_void_p)

SONAME = "libclt.so.0"


class LibraryNotFound(ImportError):
    """libclt could not be loaded from any of the places tried."""


def _candidates():
    """(path or soname, where it came from), in the order they are tried."""
    env = os.environ.get("CLT_LIBRARY")
    if env:
        yield env, "$CLT_LIBRARY"
        return  # an explicit choice that fails must not silently load another copy
    here = os.path.dirname(os.path.abspath(__file__))
    for name in (SONAME, "libclt.so"):
        yield os.path.join(here, name), "next to the package"
    for name in (SONAME, "libclt.so"):
        yield name, "the system loader"
    found = ctypes.util.find_library("clt")
    if found:
        yield found, "ctypes.util.find_library"


def _load():
    tried = []
    for path, origin in _candidates():
        if os.sep in path and not os.path.exists(path):
            tried.append(f"{path} ({origin}: no such file)")
            continue
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            tried.append(f"{path} ({origin}: {e})")
    raise LibraryNotFound("clt: cannot load libclt; tried:\n  " + "\n  ".join(tried) +
                          "\nSet CLT_LIBRARY to the path of libclt.so (for a build tree: "
                          "BUILD/libclt.so), or install the library where the loader "
                          "finds it.")


lib, path = _load()

# ---- enums ------------------------------------------------------------------------------
TIER_DEVICE, TIER_HOST_PINNED, TIER_HOST, TIER_NVME = range(4)
TIER_COUNT = 4
DTYPE_F32, DTYPE_F16, DTYPE_BF16, DTYPE_I32, DTYPE_U8 = range(5)
MAX_RANK = 4
NAME_MAX = 256
STATUS_OK = 0

# ---- structs ----------------------------------------------------------------------------


class DeviceInfo(ctypes.Structure):
    _fields_ = [("name", c_char * 64), ("driver", c_char * 32), ("index", c_int),
                ("device_name", c_char * NAME_MAX), ("vendor", c_char * NAME_MAX),
                ("platform", c_char * NAME_MAX), ("driver_version", c_char * NAME_MAX),
                ("opencl_c_version", c_char * 64), ("type", c_int),
                ("global_mem_bytes", c_uint64), ("max_alloc_bytes", c_uint64),
                ("local_mem_bytes", c_uint64), ("compute_units", c_int),
                ("max_work_group_size", c_int), ("fp16", c_bool),
                ("unified_memory", c_bool)]


LOG_FN = ctypes.CFUNCTYPE(None, c_void_p, c_int, c_char_p)


class ContextOpts(ctypes.Structure):
    _fields_ = [("device", c_char_p), ("mem_budget", c_uint64 * TIER_COUNT),
                ("cache_dir", c_char_p), ("nvme_dir", c_char_p), ("log_fn", LOG_FN),
                ("log_user", c_void_p), ("log_level", c_int), ("tune", c_int)]


class Stats(ctypes.Structure):
    _fields_ = [("programs_built", c_uint64), ("programs_from_cache", c_uint64),
                ("cache_rejected", c_uint64), ("build_seconds", c_double),
                ("cache_load_seconds", c_double), ("tunings_run", c_uint64),
                ("tunings_from_cache", c_uint64), ("tunings_rejected", c_uint64),
                ("tune_seconds", c_double), ("ops_run", c_uint64),
                ("ops_fallback", c_uint64), ("mem_used", c_uint64 * TIER_COUNT),
                ("mem_peak", c_uint64 * TIER_COUNT), ("mem_budget", c_uint64 * TIER_COUNT)]


class Tensor(ctypes.Structure):
    _fields_ = [("buf", c_void_p), ("offset", c_size_t), ("dtype", c_int), ("rank", c_int),
                ("shape", c_int64 * MAX_RANK), ("strides", c_int64 * MAX_RANK)]


class OptimHparams(ctypes.Structure):
    _fields_ = [("lr", c_float), ("beta1", c_float), ("beta2", c_float), ("eps", c_float),
                ("weight_decay", c_float), ("nesterov", c_bool), ("step", c_int64),
                ("grad_scale", c_float)]


def _args(name, fields):
    return type(name, (ctypes.Structure,), {"_fields_": fields})


T = Tensor
GemmArgs = _args("GemmArgs", [("a", T), ("b", T), ("c", T), ("bias", T),
                              ("trans_a", c_bool), ("trans_b", c_bool),
                              ("alpha", c_float), ("beta", c_float)])
AttentionFwdArgs = _args("AttentionFwdArgs", [("q", T), ("k", T), ("v", T), ("o", T),
                                              ("lse", T), ("scale", c_float),
                                              ("causal", c_bool)])
AttentionBwdArgs = _args("AttentionBwdArgs", [("q", T), ("k", T), ("v", T), ("o", T),
                                              ("dout", T), ("lse", T), ("delta", T),
                                              ("dq", T), ("dk", T), ("dv", T),
                                              ("scale", c_float), ("causal", c_bool)])
SoftmaxArgs = _args("SoftmaxArgs", [("x", T), ("y", T), ("algo", c_int)])
SoftmaxBwdArgs = _args("SoftmaxBwdArgs", [("y", T), ("dy", T), ("dx", T)])
LayernormFwdArgs = _args("LayernormFwdArgs", [("x", T), ("weight", T), ("bias", T),
                                              ("out", T), ("mean", T), ("rstd", T),
                                              ("eps", c_float)])
LayernormBwdArgs = _args("LayernormBwdArgs", [("dout", T), ("x", T), ("weight", T),
                                              ("mean", T), ("rstd", T), ("dx", T),
                                              ("dweight", T), ("dbias", T),
                                              ("accumulate", c_bool)])
GeluArgs = _args("GeluArgs", [("x", T), ("y", T)])
GeluBwdArgs = _args("GeluBwdArgs", [("x", T), ("dy", T), ("dx", T)])
EmbeddingFwdArgs = _args("EmbeddingFwdArgs", [("tokens", T), ("wte", T), ("wpe", T),
                                              ("out", T)])
EmbeddingBwdArgs = _args("EmbeddingBwdArgs", [("dout", T), ("tokens", T), ("dwte", T),
                                              ("dwpe", T), ("accumulate", c_bool)])
CrossEntropyFwdArgs = _args("CrossEntropyFwdArgs", [("logits", T), ("targets", T),
                                                    ("loss", T), ("lse", T),
                                                    ("ignore_index", c_int32)])
CrossEntropyBwdArgs = _args("CrossEntropyBwdArgs", [("logits", T), ("targets", T),
                                                    ("lse", T), ("dlogits", T),
                                                    ("dloss", c_float),
                                                    ("ignore_index", c_int32)])
AddArgs = _args("AddArgs", [("a", T), ("b", T), ("out", T), ("alpha", c_float),
                            ("beta", c_float)])
ScaleArgs = _args("ScaleArgs", [("x", T), ("alpha", c_float)])
BiasAddArgs = _args("BiasAddArgs", [("y", T), ("bias", T)])
BiasGradArgs = _args("BiasGradArgs", [("dy", T), ("dbias", T), ("accumulate", c_bool)])
SqnormArgs = _args("SqnormArgs", [("x", T), ("norm", T), ("accumulate", c_bool)])
AdamwArgs = _args("AdamwArgs", [("param", T), ("grad", T), ("m", T), ("v", T),
                                ("m_absmax", T), ("v_absmax", T), ("param_copy", T),
                                ("gate", T), ("h", OptimHparams), ("block", c_int32)])
SgdArgs = _args("SgdArgs", [("param", T), ("grad", T), ("momentum", T),
                            ("momentum_absmax", T), ("param_copy", T), ("gate", T),
                            ("h", OptimHparams), ("block", c_int32)])
Quantize8Args = _args("Quantize8Args", [("x", T), ("codes", T), ("absmax", T),
                                        ("is_signed", c_bool), ("block", c_int32)])
Dequantize8Args = _args("Dequantize8Args", [("codes", T), ("absmax", T), ("x", T),
                                            ("is_signed", c_bool), ("block", c_int32)])

# Op kinds in clt_op_kind order, with the union member's struct.
OP_ARGS = [
    ("gemm", GemmArgs), ("attention_fwd", AttentionFwdArgs),
    ("attention_bwd", AttentionBwdArgs), ("softmax", SoftmaxArgs),
    ("softmax_bwd", SoftmaxBwdArgs), ("layernorm_fwd", LayernormFwdArgs),
    ("layernorm_bwd", LayernormBwdArgs), ("gelu_fwd", GeluArgs), ("gelu_bwd", GeluBwdArgs),
    ("embedding_fwd", EmbeddingFwdArgs), ("embedding_bwd", EmbeddingBwdArgs),
    ("cross_entropy_fwd", CrossEntropyFwdArgs), ("cross_entropy_bwd", CrossEntropyBwdArgs),
    ("add", AddArgs), ("scale", ScaleArgs), ("bias_add", BiasAddArgs),
    ("bias_grad", BiasGradArgs), ("sqnorm", SqnormArgs), ("adamw", AdamwArgs),
    ("sgd", SgdArgs), ("lamb", AdamwArgs), ("quantize8", Quantize8Args),
    ("dequantize8", Dequantize8Args),
]
OP_KIND = {name: kind for kind, (name, _) in enumerate(OP_ARGS)}

OpUnion = type("OpUnion", (ctypes.Union,),
               {"_fields_": OP_ARGS + [("reserved_", c_uint8 * 2048)]})


class Op(ctypes.Structure):
    _fields_ = [("kind", c_int), ("u", OpUnion)]


# ---- functions --------------------------------------------------------------------------
ctx_p = c_void_p
buf_p = c_void_p
status = c_int


def _fn(name, restype, *argtypes, required=True):
    f = getattr(lib, name, None)
    if f is None:
        if required:
            raise LibraryNotFound(f"clt: {path} has no symbol {name}; it is older than "
                                  "this binding")
        return None
    f.restype = restype
    f.argtypes = list(argtypes)
    return f


version_number = _fn("clt_version_number", c_int)
version_string = _fn("clt_version_string", c_char_p)
status_str = _fn("clt_status_str", c_char_p, status)
status_name = _fn("clt_status_name", c_char_p, status)
last_error = _fn("clt_last_error", c_char_p)
tier_name = _fn("clt_tier_name", c_char_p, c_int)
dtype_name = _fn("clt_dtype_name", c_char_p, c_int)
dtype_size = _fn("clt_dtype_size", c_size_t, c_int)
device_type_name = _fn("clt_device_type_name", c_char_p, c_int)
device_list = _fn("clt_device_list", status, POINTER(DeviceInfo), c_int, POINTER(c_int))
context_opts_init = _fn("clt_context_opts_init", None, POINTER(ContextOpts))
context_create = _fn("clt_context_create", status, POINTER(ContextOpts), POINTER(ctx_p))
context_destroy = _fn("clt_context_destroy", None, ctx_p)
context_device = _fn("clt_context_device", status, ctx_p, POINTER(DeviceInfo))
context_finish = _fn("clt_context_finish", status, ctx_p)
context_stats = _fn("clt_context_stats", status, ctx_p, POINTER(Stats))
parse_size = _fn("clt_parse_size", status, c_char_p, POINTER(c_uint64))
buffer_create = _fn("clt_buffer_create", status, ctx_p, c_size_t, c_int, POINTER(buf_p))
buffer_destroy = _fn("clt_buffer_destroy", None, buf_p)
buffer_size = _fn("clt_buffer_size", c_size_t, buf_p)
buffer_tier = _fn("clt_buffer_tier", c_int, buf_p)
buffer_write = _fn("clt_buffer_write", status, buf_p, c_size_t, c_void_p, c_size_t, c_void_p)
buffer_read = _fn("clt_buffer_read", status, buf_p, c_size_t, c_void_p, c_size_t, c_void_p)
buffer_copy = _fn("clt_buffer_copy", status, buf_p, c_size_t, buf_p, c_size_t, c_size_t,
                  c_void_p)
# Planned: wraps caller-owned host memory as a buffer without copying. Absent from older
# libraries; the binding then copies.
buffer_wrap_host = _fn("clt_buffer_wrap_host", status, ctx_p, c_void_p, c_size_t,
                       POINTER(buf_p), required=False)
tensor_init = _fn("clt_tensor_init", status, POINTER(Tensor), buf_p, c_size_t, c_int, c_int,
                  POINTER(c_int64))
op_name = _fn("clt_op_name", c_char_p, c_int)
op_from_name = _fn("clt_op_from_name", status, c_char_p, POINTER(c_int))
op_run = _fn("clt_op_run", status, ctx_p, POINTER(Op), c_void_p)
op_supported = _fn("clt_op_supported", status, ctx_p, c_int, c_int, POINTER(c_bool))
convert = _fn("clt_convert", status, c_int, c_void_p, c_int, c_void_p, c_size_t)

HAVE_WRAP_HOST = buffer_wrap_host is not None
WRAP_HOST_ALIGN = 16  # CLT_WRAP_HOST_ALIGN
