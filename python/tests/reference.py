"""NumPy references of clt's ops, written from the formulas in include/clt/op.h, in float64
so that they are the exact values clt's f32 arithmetic approximates."""
import numpy as np

f64 = np.float64


def softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def logsumexp(x):
    m = x.max(axis=-1, keepdims=True)
    return (m + np.log(np.exp(x - m).sum(axis=-1, keepdims=True)))[..., 0]


def attention_fwd(q, k, v, scale, causal):
    # q, k, v (B, H, T, d) -> o (B, H, T, d), lse (B, H, T)
    s = scale * q.astype(f64) @ np.swapaxes(k.astype(f64), -1, -2)
    if causal:
        T = s.shape[-1]
        s = np.where(np.tril(np.ones((T, T), bool)), s, -np.inf)
    return softmax(s) @ v.astype(f64), logsumexp(s)


def attention_bwd(q, k, v, dout, scale, causal):
    q, k, v, dout = (a.astype(f64) for a in (q, k, v, dout))
    s = scale * q @ np.swapaxes(k, -1, -2)
    if causal:
        T = s.shape[-1]
        s = np.where(np.tril(np.ones((T, T), bool)), s, -np.inf)
    p = softmax(s)
    o = p @ v
    dv = np.swapaxes(p, -1, -2) @ dout
    dp = dout @ np.swapaxes(v, -1, -2)
    delta = (dout * o).sum(-1)
    ds = p * (dp - delta[..., None])
    return scale * ds @ k, scale * np.swapaxes(ds, -1, -2) @ q, dv, delta


def layernorm_fwd(x, w, b, eps):
    x = x.astype(f64)
    mean = x.mean(-1)
    rstd = 1.0 / np.sqrt(((x - mean[:, None]) ** 2).mean(-1) + eps)
    return (x - mean[:, None]) * rstd[:, None] * w + b, mean, rstd


def layernorm_bwd(dout, x, w, mean, rstd):
    dout, x = dout.astype(f64), x.astype(f64)
    xhat = (x - mean[:, None]) * rstd[:, None]
    dnorm = dout * w
    dx = rstd[:, None] * (dnorm - dnorm.mean(-1, keepdims=True)
                          - xhat * (dnorm * xhat).mean(-1, keepdims=True))
    return dx, (dout * xhat).sum(0), dout.sum(0)


GELU_C = np.sqrt(2.0 / np.pi)


def gelu(x):
    x = x.astype(f64)
    return 0.5 * x * (1.0 + np.tanh(GELU_C * (x + 0.044715 * x ** 3)))


def gelu_bwd(x, dy):
    x = x.astype(f64)
    u = GELU_C * (x + 0.044715 * x ** 3)
    t = np.tanh(u)
    du = GELU_C * (1.0 + 3 * 0.044715 * x ** 2)
    return dy * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t ** 2) * du)


def cross_entropy_fwd(logits, targets, ignore_index):
    lse = logsumexp(logits.astype(f64))
    valid = targets != ignore_index
    rows = np.arange(len(targets))
    nll = lse - logits[rows, np.where(valid, targets, 0)]
    loss = nll[valid].mean() if valid.any() else 0.0
    return loss, lse


def cross_entropy_bwd(logits, targets, dloss, ignore_index):
    p = softmax(logits.astype(f64))
    valid = targets != ignore_index
    n_valid = max(int(valid.sum()), 1)
    onehot = np.zeros_like(p)
    onehot[np.arange(len(targets))[valid], targets[valid]] = 1.0
    return np.where(valid[:, None], dloss * (p - onehot) / n_valid, 0.0)


def adamw(p, g, m, v, lr, b1, b2, eps, wd, step, grad_scale=1.0):
    p, g, m, v = (a.astype(f64) for a in (p, g, m, v))
    g = grad_scale * g
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    u = (m / (1 - b1 ** step)) / (np.sqrt(v / (1 - b2 ** step)) + eps)
    return p - lr * (u + wd * p), m, v


def lamb(p, g, m, v, lr, b1, b2, eps, wd, step):
    p, g, m, v = (a.astype(f64) for a in (p, g, m, v))
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    u = (m / (1 - b1 ** step)) / (np.sqrt(v / (1 - b2 ** step)) + eps) + wd * p
    pn, un = np.linalg.norm(p), np.linalg.norm(u)
    trust = pn / un if pn > 0 and un > 0 else 1.0
    return p - lr * trust * u, m, v


def sgd(p, g, buf, lr, momentum, wd, nesterov):
    p, g, buf = (a.astype(f64) for a in (p, g, buf))
    g = g + wd * p
    buf = momentum * buf + g
    step = g + momentum * buf if nesterov else buf
    return p - lr * step, buf


def _linspace_at(idx, steps):
    start, end = 0.1, 1.0
    step = (end - start) / (steps - 1)
    return start + step * idx if idx < steps // 2 else end - step * (steps - idx - 1)


def dynamic_map(signed):
    """bitsandbytes' create_dynamic_map(signed, 7, 8), as backends/host/quant8.c builds
    it: for decade i = 0..6 (10^(i-6)), 2^i values (2^(i+1) unsigned), the midpoints of
    linspace(0.1, 1, count + 1); negatives mirrored for the signed map; plus 0 and 1."""
    pos = []
    for i in range(7):
        count = 2 ** (i + (0 if signed else 1))
        for j in range(count):
            mid = (_linspace_at(j, count + 1) + _linspace_at(j + 1, count + 1)) / 2.0
            pos.append([1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0][i] * mid)
    pos = np.array(pos)
    vals = np.concatenate([-pos[::-1], [0.0], pos, [1.0]]) if signed else \
        np.concatenate([[0.0], pos, [1.0]])
    assert vals.size == 256
    return vals.astype(np.float32)


def quantize8(x, block, signed):
    """(codes, absmax): absmax per block, each element the code of the nearest map value
    to x/absmax (ties either way)."""
    qmap = dynamic_map(signed).astype(f64)
    n = x.size
    nb = -(-n // block)
    absmax = np.array([np.abs(x[b * block:(b + 1) * block]).max() for b in range(nb)],
                      np.float32)
    scale = np.repeat(absmax, block)[:n]
    xn = np.where(scale > 0, x / np.where(scale > 0, scale, 1), 0).astype(f64)
    dist = np.abs(xn[:, None] - qmap[None, :])
    return dist, absmax


def dequantize8(codes, absmax, block, signed):
    qmap = dynamic_map(signed)
    return qmap[codes] * np.repeat(absmax, block)[:codes.size]
