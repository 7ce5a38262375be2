"""Devices, contexts, buffers and tensors.

Lifetime: a Buffer holds its Context and a Tensor its Buffer, so a context outlives
everything made from it however Python drops references. Closing a context explicitly
(Context.close, or the end of a `with` block) frees its buffers with it, as
clt_context_destroy does; their Python objects then refuse further use instead of
touching freed memory."""
import ctypes
import weakref
from ctypes import byref, c_bool, c_int, c_int64, c_uint64, c_void_p

import numpy as np

from . import _lib
from ._errors import Unsupported, check, invalid

# ---- dtypes and tiers -------------------------------------------------------------------

DTYPES = {"f32": _lib.DTYPE_F32, "f16": _lib.DTYPE_F16, "bf16": _lib.DTYPE_BF16,
          "i32": _lib.DTYPE_I32, "u8": _lib.DTYPE_U8}
DTYPE_NAMES = {v: k for k, v in DTYPES.items()}
# The NumPy type each clt dtype is stored as; bf16 has none and travels as its bit
# pattern, uint16.
NUMPY_STORAGE = {_lib.DTYPE_F32: np.float32, _lib.DTYPE_F16: np.float16,
                 _lib.DTYPE_BF16: np.uint16, _lib.DTYPE_I32: np.int32,
                 _lib.DTYPE_U8: np.uint8}
FROM_NUMPY = {np.dtype(np.float32): _lib.DTYPE_F32, np.dtype(np.float16): _lib.DTYPE_F16,
              np.dtype(np.int32): _lib.DTYPE_I32, np.dtype(np.uint8): _lib.DTYPE_U8}

TIERS = {"device": _lib.TIER_DEVICE, "host_pinned": _lib.TIER_HOST_PINNED,
         "host": _lib.TIER_HOST, "nvme": _lib.TIER_NVME}
TIER_NAMES = {v: k for k, v in TIERS.items()}
OP_TIERS = (_lib.TIER_DEVICE, _lib.TIER_HOST_PINNED)  # the tiers ops read and write


def dtype_code(dtype, call="clt"):
    """A clt_dtype from "f32"/"bf16"/..., a NumPy dtype, or the integer itself."""
    if isinstance(dtype, str) and dtype in DTYPES:
        return DTYPES[dtype]
    if isinstance(dtype, int) and dtype in DTYPE_NAMES:
        return dtype
    try:
        nd = np.dtype(dtype)
    except TypeError:
        nd = None
    if nd is not None and nd in FROM_NUMPY:
        return FROM_NUMPY[nd]
    raise invalid(call, f"dtype {dtype!r} is not one of {', '.join(DTYPES)} "
                        "(or float32, float16, int32, uint8)")


def tier_code(tier, call="clt"):
    if isinstance(tier, str) and tier.lower() in TIERS:
        return TIERS[tier.lower()]
    if isinstance(tier, int) and tier in TIER_NAMES:
        return tier
    raise invalid(call, f"tier {tier!r} is not one of {', '.join(TIERS)}")


def version():
    """The linked library's version string, "0.1.0"."""
    return _lib.version_string().decode()


# ---- devices ----------------------------------------------------------------------------

class Device:
    """One entry of clt_device_list, as plain Python values."""

    def __init__(self, info):
        for name, _ in _lib.DeviceInfo._fields_:
            value = getattr(info, name)
            setattr(self, name, value.decode(errors="replace") if isinstance(value, bytes)
                    else value)
        self.type = _lib.device_type_name(info.type).decode()

    def __repr__(self):
        return f"<clt.Device {self.name}: {self.device_name} ({self.type})>"


def devices():
    """Every device of every driver, host last."""
    count = c_int(0)
    check(_lib.device_list(None, 0, byref(count)), "clt_device_list")
    infos = (_lib.DeviceInfo * max(count.value, 1))()
    check(_lib.device_list(infos, count.value, byref(count)), "clt_device_list")
    return [Device(infos[i]) for i in range(count.value)]


# ---- context ----------------------------------------------------------------------------

class _Handles:
    """A context's C handle and the finalizers of its live buffers, shared with the
    finalizer so that it needs no reference to the Context itself."""

    def __init__(self, handle):
        self.handle = handle
        self.buffers = {}  # id -> weakref.finalize of a live buffer

    def destroy(self):
        # clt_context_destroy frees the buffers itself: their finalizers must not.
        for fin in list(self.buffers.values()):
            fin.detach()
        self.buffers.clear()
        handle, self.handle = self.handle, None
        if handle:
            _lib.context_destroy(handle)


class Context:
    """An open device: clt_context. Context() takes $CLT_DEVICE, else the fastest GPU,
    else the host; Context("host") or Context("opencl:0") names one.

    mem_budget: {"device": bytes or "2G", ...}; cache_dir, nvme_dir as in
    clt_context_opts. Use as a context manager, or call close(); otherwise the device
    closes when the context and everything made from it are unreachable."""

    def __init__(self, device=None, *, mem_budget=None, cache_dir=None, nvme_dir=None):
        opts = _lib.ContextOpts()
        _lib.context_opts_init(byref(opts))
        self._keep = []  # bytes the options point at, alive until create returns
        if device is not None:
            opts.device = self._cstr(device)
        if cache_dir is not None:
            opts.cache_dir = self._cstr(str(cache_dir))
        if nvme_dir is not None:
            opts.nvme_dir = self._cstr(str(nvme_dir))
        for tier, size in (mem_budget or {}).items():
            opts.mem_budget[tier_code(tier, "clt_context_create")] = parse_size(size)
        handle = c_void_p()
        check(_lib.context_create(byref(opts), byref(handle)), "clt_context_create")
        del self._keep
        self._h = _Handles(handle.value)
        self._finalizer = weakref.finalize(self, _Handles.destroy, self._h)
        info = _lib.DeviceInfo()
        check(_lib.context_device(self._h.handle, byref(info)), "clt_context_device")
        self.device = Device(info)

    def _cstr(self, s):
        b = s.encode()
        self._keep.append(b)
        return b

    @property
    def handle(self):
        """The clt_context pointer (an int); raises once the context is closed."""
        if not self._h.handle:
            raise invalid("clt.Context", "the context is closed")
        return self._h.handle

    @property
    def closed(self):
        return self._h.handle is None

    def close(self):
        """Frees every buffer of the context and closes the device. Idempotent."""
        self._finalizer()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        state = "closed" if self.closed else self.device.name
        return f"<clt.Context {state}>"

    def finish(self):
        check(_lib.context_finish(self.handle), "clt_context_finish")

    def stats(self):
        """clt_context_stats as a dict; per-tier fields are dicts keyed by tier name."""
        s = _lib.Stats()
        check(_lib.context_stats(self.handle, byref(s)), "clt_context_stats")
        out = {}
        for name, _ in _lib.Stats._fields_:
            value = getattr(s, name)
            out[name] = ({TIER_NAMES[t]: value[t] for t in range(_lib.TIER_COUNT)}
                         if isinstance(value, ctypes.Array) else value)
        return out

    def supported(self, op, dtype="f32"):
        """Whether the device runs `op` with this storage dtype itself (else: host
        fallback)."""
        out = c_bool()
        check(_lib.op_supported(self.handle, op_kind(op), dtype_code(dtype), byref(out)),
              "clt_op_supported")
        return out.value

    # conveniences that read like NumPy's constructors
    def buffer(self, nbytes, tier="device"):
        return Buffer(self, nbytes, tier)

    def empty(self, shape, dtype="f32", tier="device"):
        return Tensor.empty(self, shape, dtype, tier)

    def tensor(self, array, dtype=None, copy=True):
        return Tensor.from_numpy(self, array, dtype=dtype, copy=copy)


def parse_size(size):
    """Bytes from an int or a size text like "512M" (clt_parse_size)."""
    if isinstance(size, int):
        return size
    out = c_uint64()
    check(_lib.parse_size(str(size).encode(), byref(out)), "clt_parse_size")
    return out.value


def op_kind(op):
    if isinstance(op, int):
        return op
    if op in _lib.OP_KIND:
        return _lib.OP_KIND[op]
    kind = c_int()
    check(_lib.op_from_name(str(op).encode(), byref(kind)), "clt_op_from_name")
    return kind.value


# ---- buffers ----------------------------------------------------------------------------

def _destroy_buffer(handles, key, handle):
    handles.buffers.pop(key, None)
    _lib.buffer_destroy(handle)


class Buffer:
    """clt_buffer: bytes on one tier of a context. Holds its context alive.

    A buffer made by from_numpy(copy=False) wraps the array's memory (when the library
    has clt_buffer_wrap_host) and keeps the array alive; its memory is then also visible
    as a NumPy array (.numpy_view(), __array_interface__, __dlpack__) without a copy."""

    def __init__(self, ctx, nbytes, tier="device", *, _wrap=None):
        self.ctx = ctx
        self._array = None
        out = c_void_p()
        if _wrap is None:
            check(_lib.buffer_create(ctx.handle, int(nbytes), tier_code(tier, "clt_buffer_create"),
                                     byref(out)), "clt_buffer_create")
        else:
            arr = _wrap
            check(_lib.buffer_wrap_host(ctx.handle, arr.ctypes.data, arr.nbytes, byref(out)),
                  "clt_buffer_wrap_host")
            self._array = arr.reshape(-1).view(np.uint8)
        self._handle = out.value
        key = id(self)
        self._finalizer = weakref.finalize(self, _destroy_buffer, ctx._h, key, self._handle)
        ctx._h.buffers[key] = self._finalizer

    @classmethod
    def from_numpy(cls, ctx, array, copy=True, tier="device"):
        """A buffer holding the array's bytes. copy=False wraps the array's memory when the
        library can (clt_buffer_wrap_host, a C-contiguous array) and copies otherwise;
        .wrapped says which happened."""
        arr = np.asarray(array)
        if (not copy and _lib.HAVE_WRAP_HOST and arr.flags.c_contiguous and arr.nbytes > 0
                and arr.ctypes.data % _lib.WRAP_HOST_ALIGN == 0):
            try:
                return cls(ctx, arr.nbytes, _wrap=arr)
            except Unsupported:
                pass  # a device with its own memory, or one that wants more alignment
        arr = np.ascontiguousarray(arr)
        buf = cls(ctx, max(arr.nbytes, 1), tier)
        if arr.nbytes:
            buf.write(arr)
        return buf

    @property
    def wrapped(self):
        """True when the buffer is a NumPy array's own memory."""
        return self._array is not None

    @property
    def handle(self):
        if not self._finalizer.alive:
            raise invalid("clt.Buffer", "the buffer's context is closed" if self.ctx.closed
                          else "the buffer is freed")
        return self._handle

    @property
    def nbytes(self):
        return _lib.buffer_size(self.handle)

    @property
    def tier(self):
        return TIER_NAMES[_lib.buffer_tier(self.handle)]

    def free(self):
        """Frees the buffer now (else when it becomes unreachable). Idempotent."""
        self._finalizer()

    def write(self, array, offset=0):
        """Copies a NumPy array's bytes (made contiguous) into the buffer at offset."""
        arr = np.ascontiguousarray(array)
        check(_lib.buffer_write(self.handle, offset, arr.ctypes.data, arr.nbytes, None),
              "clt_buffer_write")

    def read(self, nbytes=None, offset=0, out=None):
        """The bytes at offset as a new uint8 array (or into `out`, C-contiguous)."""
        if out is None:
            out = np.empty(self.nbytes - offset if nbytes is None else nbytes, np.uint8)
        elif not out.flags.c_contiguous or not out.flags.writeable:
            raise invalid("clt_buffer_read", "out must be a writeable C-contiguous array")
        check(_lib.buffer_read(self.handle, offset, out.ctypes.data, out.nbytes, None),
              "clt_buffer_read")
        return out

    def copy_from(self, src, nbytes=None, dst_offset=0, src_offset=0):
        """clt_buffer_copy between two buffers of one context, on any tiers."""
        n = src.nbytes - src_offset if nbytes is None else nbytes
        check(_lib.buffer_copy(self.handle, dst_offset, src.handle, src_offset, n, None),
              "clt_buffer_copy")

    def numpy_view(self):
        """The buffer's memory as a uint8 array without a copy: only for a wrapped one."""
        if self._array is None:
            raise invalid("clt.Buffer.numpy_view", "the buffer's memory belongs to the "
                          "device; read() copies it out")
        self.handle  # a freed buffer has no memory to show
        return self._array

    @property
    def __array_interface__(self):
        if self._array is None:  # NumPy then looks for the next protocol
            raise AttributeError("only a wrapped buffer exposes its memory")
        return self.numpy_view().__array_interface__

    def __dlpack__(self, stream=None):
        if self._array is None:
            raise BufferError("clt: only a wrapped buffer exposes its memory")
        return self.numpy_view().__dlpack__()

    def __dlpack_device__(self):
        return (1, 0)  # kDLCPU

    def __repr__(self):
        if not self._finalizer.alive:
            return "<clt.Buffer freed>"
        return f"<clt.Buffer {self.nbytes} bytes, {self.tier}{', wrapped' if self.wrapped else ''}>"


# ---- tensors ----------------------------------------------------------------------------

def _contiguous_strides(shape):
    strides, acc = [], 1
    for n in reversed(shape):
        strides.append(acc)
        acc *= n
    return tuple(reversed(strides))


class Tensor:
    """clt_tensor: a view of a buffer (offset in bytes, dtype, shape, strides in
    elements). Holds its buffer alive. ctx.tensor(array) uploads; .numpy() reads back."""

    def __init__(self, buffer, shape, dtype="f32", offset=0, strides=None):
        self.buffer = buffer
        self.dtype = dtype_code(dtype, "clt_tensor_init")
        self.shape = tuple(int(n) for n in shape)
        self.strides = (_contiguous_strides(self.shape) if strides is None
                        else tuple(int(s) for s in strides))
        self.offset = int(offset)
        if not 1 <= len(self.shape) <= _lib.MAX_RANK or len(self.strides) != len(self.shape):
            raise invalid("clt_tensor_init", f"shape {self.shape} with strides "
                          f"{self.strides}: rank must be 1..{_lib.MAX_RANK}, one stride "
                          "per dimension")

    @classmethod
    def empty(cls, ctx, shape, dtype="f32", tier="device"):
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        code = dtype_code(dtype, "clt.Tensor.empty")
        n = int(np.prod(shape)) * _lib.dtype_size(code)
        return cls(Buffer(ctx, max(n, 1), tier), shape, code)

    @classmethod
    def from_numpy(cls, ctx, array, dtype=None, copy=True):
        """Uploads an array. dtype: the clt storage type, by default the array's own
        (float32, float16, int32, uint8); "bf16" rounds float32 values to bf16 (a uint16
        array is taken as bf16 bit patterns). copy=False shares the array's memory when
        the library can wrap it."""
        arr = np.asarray(array)
        if arr.ndim == 0:
            arr = arr.reshape(1)
        code = FROM_NUMPY.get(arr.dtype) if dtype is None else dtype_code(dtype, "clt.tensor")
        if code is None:
            raise invalid("clt.tensor", f"NumPy dtype {arr.dtype} has no clt storage type "
                          "(float32, float16, int32, uint8; bf16 from float32 with "
                          "dtype='bf16')")
        arr = _to_storage(arr, code)
        return cls(Buffer.from_numpy(ctx, arr, copy=copy), arr.shape, code)

    @property
    def ctx(self):
        return self.buffer.ctx

    @property
    def numel(self):
        return int(np.prod(self.shape))

    @property
    def itemsize(self):
        return _lib.dtype_size(self.dtype)

    @property
    def dtype_name(self):
        return DTYPE_NAMES[self.dtype]

    @property
    def contiguous(self):
        return self.strides == _contiguous_strides(self.shape)

    def view(self, shape, strides=None, offset=None, dtype=None):
        """Another descriptor of the same buffer; offset in bytes from the buffer's start
        (default: this view's)."""
        return Tensor(self.buffer, shape, self.dtype if dtype is None else dtype,
                      self.offset if offset is None else offset, strides)

    def c(self):
        """The clt_tensor struct (validated by clt_tensor_init's rules)."""
        t = _lib.Tensor()
        t.buf = self.buffer.handle
        t.offset = self.offset
        t.dtype = self.dtype
        t.rank = len(self.shape)
        for i, (n, s) in enumerate(zip(self.shape, self.strides)):
            t.shape[i] = n
            t.strides[i] = s
        return t

    def _span(self):
        """Elements from element 0 to the last one addressed, +1 (strides >= 0)."""
        if any(s < 0 for s in self.strides):
            raise invalid("clt.Tensor.numpy", f"negative strides {self.strides}")
        return 1 + sum((n - 1) * s for n, s in zip(self.shape, self.strides))

    def raw(self):
        """The stored values as a new array of their storage type (bf16: uint16 bits)."""
        store = NUMPY_STORAGE[self.dtype]
        flat = np.empty(self._span(), store)
        self.buffer.read(out=flat.view(np.uint8).reshape(-1), offset=self.offset)
        isz = flat.itemsize
        view = np.lib.stride_tricks.as_strided(flat, self.shape,
                                               [s * isz for s in self.strides])
        return view.copy() if not self.contiguous else view.reshape(self.shape)

    def numpy(self):
        """The values as a new NumPy array: f32, f16, i32, u8 as themselves, bf16 as
        float32 (exact)."""
        arr = self.raw()
        return _bf16_to_f32(arr) if self.dtype == _lib.DTYPE_BF16 else arr

    def write(self, array):
        """Overwrites a contiguous tensor's values from an array of the same size."""
        if not self.contiguous:
            raise invalid("clt.Tensor.write", "the tensor is not contiguous")
        arr = _to_storage(np.asarray(array), self.dtype)
        if arr.size != self.numel:
            raise invalid("clt.Tensor.write", f"{arr.size} values for a tensor of shape "
                          f"{self.shape}")
        self.buffer.write(arr, self.offset)

    def shared_view(self):
        """The values as a NumPy array sharing the buffer's memory, or None when that is
        not possible (the memory is the device's, bf16, or a strided view)."""
        if not self.buffer.wrapped or not self.contiguous or self.dtype == _lib.DTYPE_BF16:
            return None
        raw = self.buffer.numpy_view()[self.offset:self.offset + self.numel * self.itemsize]
        return raw.view(NUMPY_STORAGE[self.dtype]).reshape(self.shape)

    def __array__(self, dtype=None):
        arr = self.shared_view()
        arr = self.numpy() if arr is None else arr
        return arr if dtype is None else arr.astype(dtype, copy=False)

    def __dlpack__(self, stream=None):
        arr = self.shared_view()
        if arr is None:
            raise BufferError("clt: this tensor's memory is not host memory NumPy can see; "
                              "use .numpy() to copy it")
        return arr.__dlpack__()

    def __dlpack_device__(self):
        return (1, 0)

    def __repr__(self):
        return (f"<clt.Tensor {DTYPE_NAMES[self.dtype]}{list(self.shape)} "
                f"strides={list(self.strides)} offset={self.offset}>")


def _bf16_to_f32(bits):
    return (bits.astype(np.uint32) << 16).view(np.float32)


def _to_storage(arr, code):
    """The array converted to clt dtype `code`'s storage (float32 -> bf16 bits rounds to
    nearest even through clt_convert)."""
    store = NUMPY_STORAGE[code]
    if code == _lib.DTYPE_BF16 and arr.dtype != np.uint16:
        src = np.ascontiguousarray(arr, np.float32)
        out = np.empty(src.shape, np.uint16)
        check(_lib.convert(code, out.ctypes.data, _lib.DTYPE_F32, src.ctypes.data, src.size),
              "clt_convert")
        return out
    if arr.dtype == store:
        return arr
    if code in (_lib.DTYPE_I32, _lib.DTYPE_U8) and not np.issubdtype(arr.dtype, np.integer):
        raise invalid("clt.tensor", f"{arr.dtype} values for a {DTYPE_NAMES[code]} tensor")
    return arr.astype(store)
