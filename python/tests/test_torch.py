"""clt.torch: the drop-in optimizers against torch.optim.AdamW, and their state_dict."""
import copy
import io

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is not installed "
                            "(apt-get install python3-torch)")
import clt.torch as ct  # noqa: E402
import reference as ref  # noqa: E402

torch.set_num_threads(1)  # small models: threads only add noise on a shared machine


def regression(seed, n):
    """A noisy teacher (noise variance 0.25) and a student MLP whose first weight,
    (512, 8), has 4096 elements: the smallest that gets 8-bit states."""
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(8, 4, generator=g)
    X = torch.randn(2 * n, 8, generator=g)
    y = torch.tanh(X @ w).sum(1, keepdim=True) + 0.5 * torch.randn(2 * n, 1, generator=g)
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(8, 512), torch.nn.GELU(),
                                torch.nn.Linear(512, 1))
    return model, (X[:n], y[:n]), (X[n:], y[n:])


def train(model, opt, data, steps):
    X, y = data
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(X), y).backward()
        opt.step()


def test_adamw8bit_trains_to_torch_adamw_loss():
    losses = {}
    for name, make in (("torch", lambda p: torch.optim.AdamW(p, lr=1e-2)),
                       ("clt", lambda p: ct.AdamW8bit(p, lr=1e-2))):
        model, train_set, held_out = regression(0, 4096)
        opt = make(model.parameters())
        train(model, opt, train_set, 150)
        with torch.no_grad():
            losses[name] = torch.nn.functional.mse_loss(model(held_out[0]), held_out[1]).item()
    if "clt" in losses:
        assert isinstance(opt, ct.AdamW8bit)
        assert opt.state[model[0].weight]["exp_avg"].dtype == torch.uint8  # really 8-bit
    rel = abs(losses["clt"] - losses["torch"]) / losses["torch"]
    assert rel < 0.01, f"held-out loss: AdamW8bit {losses['clt']:.5f}, torch AdamW " \
                       f"{losses['torch']:.5f} ({100 * rel:.2f}% apart)"


def test_adamw_f32_follows_torch_adamw_step_by_step():
    model, data, _ = regression(1, 512)
    twin = copy.deepcopy(model)
    a = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.05)
    b = ct.AdamW(twin.parameters(), lr=1e-2, weight_decay=0.05)
    for _ in range(10):
        train(model, a, data, 1)
        train(twin, b, data, 1)
        for p, q in zip(model.parameters(), twin.parameters()):
            torch.testing.assert_close(q, p, rtol=1e-4, atol=1e-5)


def test_lamb_step_matches_the_formula():
    p = torch.nn.Parameter(torch.randn(300))
    p0 = p.detach().numpy().copy()
    p.grad = torch.randn(300)
    opt = ct.LAMB([p], lr=1e-2, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.1)
    opt.step()
    want, _, _ = ref.lamb(p0, p.grad.numpy(), np.zeros(300), np.zeros(300), 1e-2, 0.9, 0.99,
                          1e-8, 0.1, 1)
    np.testing.assert_allclose(p.detach().numpy(), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cls", [ct.AdamW8bit, ct.LAMB8bit, ct.AdamW])
def test_state_dict_round_trips_bit_for_bit(cls):
    model, data, _ = regression(2, 256)
    opt = cls(model.parameters(), lr=1e-2)
    train(model, opt, data, 3)

    saved = io.BytesIO()
    torch.save({"model": model.state_dict(), "opt": opt.state_dict()}, saved)
    saved.seek(0)
    ckpt = torch.load(saved)
    st = ckpt["opt"]["state"][0]  # the (512, 8) weight
    assert st["step"] == 3
    if cls is ct.AdamW:
        assert st["exp_avg"].dtype == torch.float32
    else:
        assert st["exp_avg"].dtype == torch.uint8 and st["exp_avg"].numel() == 4096
        assert st["exp_avg_absmax"].dtype == torch.float32
        assert st["exp_avg_absmax"].numel() == 4096 // 256
        assert ckpt["opt"]["state"][1]["exp_avg"].dtype == torch.float32  # 512: kept f32

    model2, _, _ = regression(2, 256)
    model2.load_state_dict(ckpt["model"])
    opt2 = cls(model2.parameters(), lr=1e-2)
    opt2.load_state_dict(ckpt["opt"])
    train(model, opt, data, 3)
    train(model2, opt2, data, 3)
    for p, q in zip(model.parameters(), model2.parameters()):
        assert torch.equal(p, q)
    s1, s2 = opt.state_dict()["state"], opt2.state_dict()["state"]
    for k in s1:
        for key, v in s1[k].items():
            assert torch.equal(v, s2[k][key]) if torch.is_tensor(v) else v == s2[k][key]


def test_optimizer_errors_are_clear():
    with pytest.raises(ValueError, match="betas"):
        ct.AdamW8bit([torch.nn.Parameter(torch.zeros(2))], betas=(1.5, 0.9))
    p = torch.nn.Parameter(torch.zeros(4, dtype=torch.float64))
    p.grad = torch.zeros(4, dtype=torch.float64)
    with pytest.raises(ValueError, match="float32"):
        ct.AdamW8bit([p]).step()
