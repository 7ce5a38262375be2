"""clt from Python: devices, buffers, tensors and every op of libclt, through ctypes.

    import numpy as np, clt
    with clt.Context("host") as ctx:
        a = np.random.rand(64, 32).astype(np.float32)
        b = np.random.rand(32, 16).astype(np.float32)
        c = np.zeros((64, 16), np.float32)
        clt.gemm(ctx, a, b, c)          # c = a @ b, written back into c

The library is found through $CLT_LIBRARY, then next to this package, then the system
loader. Errors raise clt.CltError subclasses carrying clt_last_error()'s sentence."""
from . import _lib
from ._core import (Buffer, Context, Device, Tensor, devices, parse_size, version)
from ._errors import (BuildError, CltError, CommError, DeviceLost, FormatError,
                      InternalError, InvalidArgument, IOFailure, LaunchError, NoDevice,
                      OutOfMemory, TransferError, Unsupported)
from ._ops import OPS, run

library_path = _lib.path
have_wrap_host = _lib.HAVE_WRAP_HOST

gemm = OPS["gemm"]
attention_fwd = OPS["attention_fwd"]
attention_bwd = OPS["attention_bwd"]
softmax = OPS["softmax"]
softmax_bwd = OPS["softmax_bwd"]
layernorm_fwd = OPS["layernorm_fwd"]
layernorm_bwd = OPS["layernorm_bwd"]
gelu_fwd = OPS["gelu_fwd"]
gelu_bwd = OPS["gelu_bwd"]
embedding_fwd = OPS["embedding_fwd"]
embedding_bwd = OPS["embedding_bwd"]
cross_entropy_fwd = OPS["cross_entropy_fwd"]
cross_entropy_bwd = OPS["cross_entropy_bwd"]
add = OPS["add"]
scale = OPS["scale"]
bias_add = OPS["bias_add"]
bias_grad = OPS["bias_grad"]
sqnorm = OPS["sqnorm"]
adamw = OPS["adamw"]
sgd = OPS["sgd"]
lamb = OPS["lamb"]
quantize8 = OPS["quantize8"]
dequantize8 = OPS["dequantize8"]

Q8_MIN_ELEMENTS = 4096
Q8_DEFAULT_BLOCK = 256

__version__ = "0.1.0"
__all__ = ["Buffer", "Context", "Device", "Tensor", "devices", "parse_size", "version",
           "CltError", "InvalidArgument", "OutOfMemory", "NoDevice", "Unsupported",
           "BuildError", "TransferError", "LaunchError", "DeviceLost", "IOFailure",
           "FormatError", "InternalError", "CommError", "OPS", "run", "library_path", "have_wrap_host",
           *OPS]
