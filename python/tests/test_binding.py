"""The binding itself: struct layouts against the C compiler's, library discovery, errors
as exceptions, buffers and tensors, zero-copy, and lifetime (no crash or leak whatever
order arrays, buffers and contexts are dropped in)."""
import gc
import os
import subprocess
import sys
import weakref

import numpy as np
import pytest

import clt
from clt import _lib


@pytest.mark.skipif(not os.environ.get("CLT_LAYOUT_PROBE"),
                    reason="CLT_LAYOUT_PROBE not set (ctest sets it to clt-layout-probe)")
def test_struct_layouts_match_the_c_headers():
    out = subprocess.run([os.environ["CLT_LAYOUT_PROBE"]], check=True, capture_output=True,
                         text=True).stdout
    structs = {"clt_device_info": _lib.DeviceInfo, "clt_context_opts": _lib.ContextOpts,
               "clt_stats": _lib.Stats, "clt_tensor": _lib.Tensor,
               "clt_optim_hparams": _lib.OptimHparams, "clt_op": _lib.Op}
    structs.update({f"clt_{name}_args": cls for name, cls in _lib.OP_ARGS})
    structs["clt_gelu_args"] = _lib.GeluArgs
    checked = 0
    for line in out.splitlines():
        key, value = line.split()
        value = int(value)
        if key == "CLT_OP_COUNT":
            assert value == len(_lib.OP_ARGS)
        elif key == "CLT_OP_DEQUANTIZE8":
            assert value == _lib.OP_KIND["dequantize8"]
        elif "." in key:
            name, field = key.split(".")
            assert getattr(structs[name], field).offset == value, key
        else:
            import ctypes
            assert ctypes.sizeof(structs[key]) == value, key
        checked += 1
    assert checked > 50


def test_missing_library_names_every_path_tried():
    env = dict(os.environ, CLT_LIBRARY="/nonexistent/libclt.so")
    r = subprocess.run([sys.executable, "-c", "import clt"], env=env, capture_output=True,
                       text=True)
    assert r.returncode != 0
    assert "/nonexistent/libclt.so" in r.stderr and "CLT_LIBRARY" in r.stderr


def test_version_and_devices():
    assert clt.version() == clt.__version__
    devs = clt.devices()
    assert devs[-1].name == "host" and devs[-1].type == "host"


def test_unknown_device_raises_no_device():
    with pytest.raises(clt.NoDevice) as e:
        clt.Context("opencl:99")
    assert e.value.status == 3 and e.value.status_name == "CLT_ERR_NO_DEVICE"
    assert "opencl:99" in str(e.value)


def test_bad_shape_names_op_and_argument(host):
    a = np.zeros((4, 5), np.float32)
    b = np.zeros((5, 6), np.float32)  # N = 6, c has 3
    c = np.zeros((4, 3), np.float32)
    with pytest.raises(clt.InvalidArgument) as e:
        clt.gemm(host, a, b, c)
    msg = str(e.value)
    assert "gemm" in msg and "argument b" in msg, msg
    assert e.value.detail == _lib.last_error().decode()
    assert isinstance(e.value, ValueError)
    with pytest.raises(clt.InvalidArgument, match=r"softmax.*argument y"):
        clt.softmax(host, np.zeros((2, 3), np.float32), np.zeros((2, 4), np.float32))
    with pytest.raises(clt.InvalidArgument, match=r"layernorm_fwd.*argument weight"):
        x = np.zeros((2, 8), np.float32)
        clt.layernorm_fwd(host, x, np.zeros(7, np.float32), np.zeros(8, np.float32),
                          np.zeros_like(x), np.zeros(2, np.float32), np.zeros(2, np.float32))


def test_binding_side_errors(host):
    x = np.zeros(4, np.float32)
    with pytest.raises(clt.InvalidArgument, match="argument x: NumPy dtype float64"):
        clt.gelu_fwd(host, x.astype(np.float64), x)
    with pytest.raises(clt.InvalidArgument, match="argument y is missing"):
        clt.gelu_fwd(host, x)
    with pytest.raises(clt.InvalidArgument, match="no argument named 'alpah'"):
        clt.scale(host, x, alpah=2.0)
    with pytest.raises(clt.InvalidArgument, match="read-only"):
        y = np.zeros(4, np.float32)
        y.flags.writeable = False
        clt.gelu_fwd(host, x, y)


def test_out_of_memory_names_the_tier():
    with clt.Context("host", mem_budget={"device": "1M"}) as ctx:
        with pytest.raises(clt.OutOfMemory, match="DEVICE") as e:
            ctx.buffer(2 << 20)
        assert isinstance(e.value, MemoryError)
        ctx.buffer(512 << 10)  # what fits still works


def test_buffer_round_trip_and_copy(host):
    data = np.arange(100, dtype=np.float32)
    b = clt.Buffer.from_numpy(host, data)
    assert b.nbytes == 400 and b.tier == "device"
    np.testing.assert_array_equal(b.read().view(np.float32), data)
    staging = host.buffer(400, tier="host")
    staging.copy_from(b)
    np.testing.assert_array_equal(staging.read().view(np.float32), data)


def test_tensor_dtypes(host):
    x = np.linspace(-3, 3, 20, dtype=np.float32)
    np.testing.assert_array_equal(host.tensor(x).numpy(), x)
    h = host.tensor(x.astype(np.float16))
    assert h.dtype_name == "f16" and h.numpy().dtype == np.float16
    bf = host.tensor(x, dtype="bf16")
    assert bf.dtype_name == "bf16"
    np.testing.assert_allclose(bf.numpy(), x, rtol=2 ** -8)
    np.testing.assert_array_equal(host.tensor(np.arange(5, dtype=np.int32)).numpy(),
                                  np.arange(5))
    assert np.array_equal(np.asarray(host.tensor(x)), x)  # __array__ copies out


@pytest.mark.skipif(not clt.have_wrap_host, reason="this libclt has no "
                    "clt_buffer_wrap_host: from_numpy(copy=False) copies")
def test_zero_copy_shares_memory(host):
    x = np.arange(64, dtype=np.float32)
    t = host.tensor(x, copy=False)
    assert t.buffer.wrapped
    view = np.from_dlpack(t)
    assert np.shares_memory(view, x)
    x[3] = 42.0
    assert t.numpy()[3] == 42.0


def test_copy_false_without_wrap_copies(host):
    x = np.arange(8, dtype=np.float32)
    t = host.tensor(x, copy=False)
    if not t.buffer.wrapped:
        with pytest.raises(BufferError):
            t.__dlpack__()
        np.testing.assert_array_equal(np.asarray(t), x)


def test_context_closed_before_its_buffers(rng):
    ctx = clt.Context("host")
    t = ctx.tensor(rng.standard_normal(10).astype(np.float32))
    buf = t.buffer
    ctx.close()
    assert ctx.closed
    with pytest.raises(clt.InvalidArgument, match="context is closed"):
        t.numpy()
    buf.free()  # after the context: nothing to free, no crash
    del t, buf
    gc.collect()
    ctx.close()  # twice: nothing


def test_buffers_keep_their_context_alive():
    ctx = clt.Context("host")
    ctx_ref = weakref.ref(ctx)
    t = ctx.tensor(np.ones(4, np.float32))
    del ctx
    gc.collect()
    assert ctx_ref() is not None  # the tensor holds it
    np.testing.assert_array_equal(t.numpy(), np.ones(4))
    del t
    gc.collect()
    assert ctx_ref() is None


def test_many_buffers_freed_in_any_order_do_not_grow():
    ctx = clt.Context("host")
    for _ in range(3):
        keep = [ctx.tensor(np.full(1000, i, np.float32)) for i in range(200)]
        assert ctx.stats()["mem_used"]["device"] == 200 * 4000
        for t in keep[::2]:
            t.buffer.free()
        del keep[::2]
        keep.reverse()
        del keep
        gc.collect()
        assert ctx.stats()["mem_used"]["device"] == 0
    ctx.close()


def _rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="no /proc")
def test_create_destroy_loop_keeps_rss_flat():
    def churn(n):
        for i in range(n):
            with clt.Context("host") as ctx:
                a = np.ones((64, 64), np.float32)
                c = np.zeros((64, 64), np.float32)
                clt.gemm(ctx, a, a, c)
                t = ctx.tensor(a)
                if i % 2:
                    del t  # the buffer before the context, or the context first
    churn(50)
    gc.collect()
    before = _rss_kib()
    churn(300)
    gc.collect()
    grown = _rss_kib() - before
    assert grown < 8 * 1024, f"RSS grew {grown} KiB over 300 contexts"


def test_stats_count_ops(host):
    ran = host.stats()["ops_run"]
    x = np.ones(8, np.float32)
    clt.scale(host, x, alpha=2.0)
    assert host.stats()["ops_run"] == ran + 1
    assert host.supported("gemm", "f32")
