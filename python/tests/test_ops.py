"""Every op of include/clt/op.h, run through the binding with NumPy arrays in and out,
against the NumPy references of reference.py, on every device of the `ctx` fixture."""
import numpy as np
import pytest

import clt
import reference as ref

f32 = np.float32
TOL = dict(rtol=2e-4, atol=2e-5)


def randn(rng, *shape, scale=1.0):
    return (scale * rng.standard_normal(shape)).astype(f32)


def test_every_op_has_a_binding():
    names = {clt._lib.op_name(k).decode() for k in range(len(clt._lib.OP_ARGS))}
    assert names == set(clt.OPS)
    for name, kind in clt._lib.OP_KIND.items():
        assert clt._lib.op_name(kind).decode() == name


@pytest.mark.parametrize("trans_a,trans_b", [(False, False), (True, False), (False, True)])
def test_gemm(ctx, rng, trans_a, trans_b):
    M, K, N = 33, 20, 17
    a = randn(rng, *((K, M) if trans_a else (M, K)))
    b = randn(rng, *((N, K) if trans_b else (K, N)))
    c = randn(rng, M, N)
    bias = randn(rng, N)
    want = 0.5 * (a.T if trans_a else a).astype(np.float64) @ (b.T if trans_b else b) \
        + 2.0 * c + bias
    clt.gemm(ctx, a, b, c, bias, trans_a=trans_a, trans_b=trans_b, alpha=0.5, beta=2.0)
    np.testing.assert_allclose(c, want, **TOL)


def test_gemm_batched_and_half(ctx, rng):
    a = randn(rng, 3, 8, 16)
    b = randn(rng, 16, 12)  # one matrix for every batch
    c = np.zeros((3, 8, 12), f32)
    clt.gemm(ctx, a, b, c)
    np.testing.assert_allclose(c, a @ b, **TOL)
    # f16 storage in and out, f32 accumulation
    ah, bh = a[0].astype(np.float16), b.astype(np.float16)
    ch = np.zeros((8, 12), np.float16)
    clt.gemm(ctx, ah, bh, ch)
    np.testing.assert_allclose(ch.astype(f32), ah.astype(f32) @ bh.astype(f32), rtol=2e-3,
                               atol=2e-3)


def test_gemm_bf16_tensors(ctx, rng):
    a, b = randn(rng, 8, 16), randn(rng, 16, 4)
    ta = ctx.tensor(a, dtype="bf16")
    tb = ctx.tensor(b, dtype="bf16")
    tc = ctx.empty((8, 4), "f32")
    clt.gemm(ctx, ta, tb, tc)
    # the inputs as bf16 rounded them, exactly representable in f32
    np.testing.assert_allclose(tc.numpy(), ta.numpy() @ tb.numpy(), **TOL)


@pytest.mark.parametrize("causal", [True, False])
def test_attention(ctx, rng, causal):
    B, H, T, d = 2, 2, 24, 32
    q, k, v, dout = (randn(rng, B, H, T, d) for _ in range(4))
    o, lse = np.zeros_like(q), np.zeros((B, H, T), f32)
    scale = 1.0 / np.sqrt(d)
    clt.attention_fwd(ctx, q, k, v, o, lse, causal=causal)  # scale defaults to 1/sqrt(d)
    want_o, want_lse = ref.attention_fwd(q, k, v, scale, causal)
    np.testing.assert_allclose(o, want_o, **TOL)
    np.testing.assert_allclose(lse, want_lse, **TOL)

    delta = np.zeros((B, H, T), f32)
    dq, dk, dv = np.zeros_like(q), np.zeros_like(k), np.zeros_like(v)
    clt.attention_bwd(ctx, q, k, v, o, dout, lse, delta, dq, dk, dv, scale=scale,
                      causal=causal)
    want = ref.attention_bwd(q, k, v, dout, scale, causal)
    for got, exp in zip((dq, dk, dv, delta), want):
        np.testing.assert_allclose(got, exp, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("algo", ["two_pass", "three_pass"])
def test_softmax(ctx, rng, algo):
    x = randn(rng, 7, 50, scale=4.0)
    y = np.zeros_like(x)
    clt.softmax(ctx, x, y, algo=algo)
    np.testing.assert_allclose(y, ref.softmax(x.astype(np.float64)), **TOL)
    dy, dx = randn(rng, 7, 50), np.zeros_like(x)
    clt.softmax_bwd(ctx, y, dy, dx)
    np.testing.assert_allclose(dx, y * (dy - (dy * y).sum(-1, keepdims=True)), **TOL)


def test_softmax_in_place(ctx, rng):
    x = randn(rng, 3, 20)
    want = ref.softmax(x.astype(np.float64))
    clt.softmax(ctx, x, x)  # the same array twice: y may be x
    np.testing.assert_allclose(x, want, **TOL)


def test_layernorm(ctx, rng):
    n, C = 9, 40
    x, w, b = randn(rng, n, C), randn(rng, C), randn(rng, C)
    out, mean, rstd = np.zeros_like(x), np.zeros(n, f32), np.zeros(n, f32)
    clt.layernorm_fwd(ctx, x, w, b, out, mean, rstd, eps=1e-5)
    want_out, want_mean, want_rstd = ref.layernorm_fwd(x, w, b, 1e-5)
    np.testing.assert_allclose(out, want_out, **TOL)
    np.testing.assert_allclose(mean, want_mean, **TOL)
    np.testing.assert_allclose(rstd, want_rstd, **TOL)

    dout = randn(rng, n, C)
    dx, dw, db = np.zeros_like(x), np.ones(C, f32), np.ones(C, f32)
    clt.layernorm_bwd(ctx, dout, x, w, mean, rstd, dx, dw, db, accumulate=True)
    want_dx, want_dw, want_db = ref.layernorm_bwd(dout, x, w, mean, rstd)
    np.testing.assert_allclose(dx, want_dx, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(dw, 1.0 + want_dw, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(db, 1.0 + want_db, rtol=1e-3, atol=1e-4)


def test_gelu(ctx, rng):
    x = randn(rng, 4, 33, scale=3.0)
    y = np.zeros_like(x)
    clt.gelu_fwd(ctx, x, y)
    np.testing.assert_allclose(y, ref.gelu(x), **TOL)
    dy, dx = randn(rng, 4, 33), np.zeros_like(x)
    clt.gelu_bwd(ctx, x, dy, dx)
    np.testing.assert_allclose(dx, ref.gelu_bwd(x, dy), **TOL)


def test_embedding(ctx, rng):
    B, T, V, C, Tmax = 2, 5, 11, 16, 8
    tokens = rng.integers(0, V, (B, T)).astype(np.int32)
    tokens[1, 2] = tokens[0, 0]  # a repeated token sums
    wte, wpe = randn(rng, V, C), randn(rng, Tmax, C)
    out = np.zeros((B, T, C), f32)
    clt.embedding_fwd(ctx, tokens, wte, wpe, out)
    np.testing.assert_allclose(out, wte[tokens] + wpe[None, :T], **TOL)

    dout = randn(rng, B, T, C)
    dwte, dwpe = np.zeros_like(wte), np.full_like(wpe, 7.0)
    clt.embedding_bwd(ctx, dout, tokens, dwte, dwpe)
    want_dwte = np.zeros((V, C))
    np.add.at(want_dwte, tokens.reshape(-1), dout.reshape(-1, C))
    want_dwpe = np.zeros((Tmax, C))
    want_dwpe[:T] = dout.sum(0)  # rows t >= T written as 0 without accumulate
    np.testing.assert_allclose(dwte, want_dwte, **TOL)
    np.testing.assert_allclose(dwpe, want_dwpe, **TOL)

    # without wpe (optional), with accumulate
    out2 = np.zeros((B, T, C), f32)
    clt.embedding_fwd(ctx, tokens, wte, None, out2)
    np.testing.assert_allclose(out2, wte[tokens], **TOL)
    clt.embedding_bwd(ctx, dout, tokens, dwte, accumulate=True)
    np.testing.assert_allclose(dwte, 2 * want_dwte, **TOL)


def test_cross_entropy(ctx, rng):
    n, V = 12, 37
    logits = randn(rng, n, V, scale=3.0)
    targets = rng.integers(0, V, n).astype(np.int32)
    targets[3] = -100
    loss, lse = np.zeros(1, f32), np.zeros(n, f32)
    clt.cross_entropy_fwd(ctx, logits, targets, loss, lse, ignore_index=-100)
    want_loss, want_lse = ref.cross_entropy_fwd(logits, targets, -100)
    np.testing.assert_allclose(loss[0], want_loss, **TOL)
    np.testing.assert_allclose(lse, want_lse, **TOL)
    dlogits = np.zeros_like(logits)
    clt.cross_entropy_bwd(ctx, logits, targets, lse, dlogits, dloss=0.5)
    np.testing.assert_allclose(dlogits, ref.cross_entropy_bwd(logits, targets, 0.5, -100),
                               **TOL)


def test_elementwise(ctx, rng):
    a, b = randn(rng, 6, 10), randn(rng, 6, 10)
    out = np.zeros_like(a)
    clt.add(ctx, a, b, out, alpha=2.0, beta=-0.5)
    np.testing.assert_allclose(out, 2.0 * a - 0.5 * b, **TOL)
    x = a.copy()
    clt.scale(ctx, x, alpha=3.0)
    np.testing.assert_allclose(x, 3.0 * a, **TOL)
    y, bias = a.copy(), randn(rng, 10)
    clt.bias_add(ctx, y, bias)
    np.testing.assert_allclose(y, a + bias, **TOL)
    dbias = np.zeros(10, f32)
    clt.bias_grad(ctx, b, dbias)
    np.testing.assert_allclose(dbias, b.sum(0), **TOL)
    norm = np.zeros(1, f32)
    clt.sqnorm(ctx, a, norm)
    clt.sqnorm(ctx, b, norm, accumulate=True)
    np.testing.assert_allclose(norm[0], (a.astype(np.float64) ** 2).sum()
                               + (b.astype(np.float64) ** 2).sum(), rtol=1e-5)


H = dict(lr=1e-2, beta1=0.9, beta2=0.99, eps=1e-8, weight_decay=0.1)


@pytest.mark.parametrize("op", ["adamw", "lamb"])
def test_adam_family_f32(ctx, rng, op):
    n = 1000
    p, g = randn(rng, n), randn(rng, n)
    m, v = randn(rng, n, scale=0.1), np.abs(randn(rng, n, scale=0.1))
    want = getattr(ref, op)(p, g, m, v, H["lr"], H["beta1"], H["beta2"], H["eps"],
                            H["weight_decay"], 3)
    pc = np.zeros(n, np.float16)
    getattr(clt, op)(ctx, p, g, m, v, param_copy=pc, step=3, **H)
    np.testing.assert_allclose(p, want[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(m, want[1], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(v, want[2], rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(pc, p.astype(np.float16))


def test_adamw_gate_skips_the_step(ctx, rng):
    p, g = randn(rng, 64), randn(rng, 64)
    m, v = np.zeros(64, f32), np.zeros(64, f32)
    before = p.copy()
    clt.adamw(ctx, p, g, m, v, gate=np.array([np.inf], f32), **H)
    np.testing.assert_array_equal(p, before)


@pytest.mark.parametrize("op", ["adamw", "lamb"])
def test_adam_family_q8(ctx, rng, op):
    n, block = 5000, 256
    p, g = randn(rng, n), randn(rng, n)
    m0, v0 = randn(rng, n, scale=0.1), np.abs(randn(rng, n, scale=0.1))
    mc, ma = np.zeros(n, np.uint8), np.zeros(-(-n // block), f32)
    vc, va = np.zeros(n, np.uint8), np.zeros(-(-n // block), f32)
    clt.quantize8(ctx, m0, mc, ma, is_signed=True, block=block)
    clt.quantize8(ctx, v0, vc, va, is_signed=False, block=block)
    m = ref.dequantize8(mc, ma, block, True)
    v = ref.dequantize8(vc, va, block, False)
    want = getattr(ref, op)(p, g, m, v, H["lr"], H["beta1"], H["beta2"], H["eps"],
                            H["weight_decay"], 2)
    p0 = p.copy()
    getattr(clt, op)(ctx, p, g, mc, vc, ma, va, step=2, block=block, **H)
    # the new states, requantized: within the 8-bit map's resolution of the f32 update
    m_new = ref.dequantize8(mc, ma, block, True)
    v_new = ref.dequantize8(vc, va, block, False)
    if op == "lamb":
        # LAMB's second pass reads the moments as stored (requantized): its update is
        # LAMB's formula on those
        want_p = ref.lamb(p0, np.zeros(n), m_new / H["beta1"], v_new / H["beta2"],
                          H["lr"], H["beta1"], H["beta2"], H["eps"], H["weight_decay"], 2)[0]
    else:
        want_p = want[0]
    np.testing.assert_allclose(p, want_p, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(m_new, want[1], atol=0.05 * np.abs(want[1]).max())
    np.testing.assert_allclose(v_new, want[2], atol=0.05 * np.abs(want[2]).max())


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd(ctx, rng, nesterov):
    n = 700
    p, g, buf = randn(rng, n), randn(rng, n), randn(rng, n)
    want_p, want_buf = ref.sgd(p, g, buf, 0.1, 0.9, 0.01, nesterov)
    clt.sgd(ctx, p, g, buf, lr=0.1, beta1=0.9, weight_decay=0.01, nesterov=nesterov)
    np.testing.assert_allclose(p, want_p, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(buf, want_buf, rtol=1e-5, atol=1e-6)
    # without momentum: plain SGD
    p2 = randn(rng, n)
    want = p2 - 0.1 * g.astype(np.float64)
    clt.sgd(ctx, p2, g, lr=0.1, beta1=0.0)
    np.testing.assert_allclose(p2, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("signed", [True, False])
def test_quantize8(ctx, rng, signed):
    n, block = 1000, 128
    x = randn(rng, n)
    if not signed:
        x = np.abs(x)
    x[block:2 * block] = 0.0  # an all-zero block
    codes, absmax = np.zeros(n, np.uint8), np.zeros(-(-n // block), f32)
    clt.quantize8(ctx, x, codes, absmax, is_signed=signed, block=block)
    dist, want_absmax = ref.quantize8(x, block, signed)
    np.testing.assert_array_equal(absmax, want_absmax)
    # each code is a nearest map value (ties either way)
    got = dist[np.arange(n), codes]
    np.testing.assert_allclose(got, dist.min(axis=1), rtol=0, atol=1e-7)
    back = np.zeros(n, f32)
    clt.dequantize8(ctx, codes, absmax, back, is_signed=signed, block=block)
    np.testing.assert_allclose(back, ref.dequantize8(codes, absmax, block, signed),
                               rtol=1e-6, atol=0)
    assert np.all(back[block:2 * block] == 0.0)


def test_dequantize_every_code_is_the_dynamic_map(ctx):
    for signed in (True, False):
        codes = np.arange(256, dtype=np.uint8)
        x = np.zeros(256, f32)
        clt.dequantize8(ctx, codes, np.ones(1, f32), x, is_signed=signed, block=256)
        np.testing.assert_allclose(x, ref.dynamic_map(signed), rtol=1e-6, atol=0)


def test_tensor_views_read_packed_qkv(ctx, rng):
    """q, k, v as strided views of one packed (B, T, 3, H, d) buffer, as op.h describes."""
    B, T, H, d = 1, 16, 2, 32
    qkv = randn(rng, B, T, 3, H, d)
    t = ctx.tensor(qkv.reshape(B * T, 3 * H * d))  # rank <= 4: flatten, then view
    es = 4  # bytes per f32
    strides = (3 * H * d * T, d, 3 * H * d, 1)
    q, k, v = (t.view((B, H, T, d), strides, offset=i * H * d * es) for i in range(3))
    o, lse = ctx.empty((B, H, T, d)), ctx.empty((B, H, T))
    clt.attention_fwd(ctx, q, k, v, o, lse, causal=True)
    qn, kn, vn = (np.ascontiguousarray(qkv[:, :, i].transpose(0, 2, 1, 3)) for i in range(3))
    np.testing.assert_allclose(q.numpy(), qn)  # a strided view reads back its elements
    want_o, _ = ref.attention_fwd(qn, kn, vn, 1 / np.sqrt(d), True)
    np.testing.assert_allclose(o.numpy(), want_o, **TOL)
