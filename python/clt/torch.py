"""Drop-in PyTorch optimizers whose step runs on a clt device, host or OpenCL.

    opt = clt.torch.AdamW8bit(model.parameters(), lr=1e-3)      # was torch.optim.AdamW

AdamW8bit and LAMB8bit keep both moments in clt's block-wise 8-bit format (u8 codes
into the dynamic map, one f32 absmax per `block` elements; tensors under
`min_8bit_size` elements stay f32, as bitsandbytes does); AdamW and LAMB keep f32
moments. The update is clt's fused AdamW/LAMB op (include/clt/op.h), so a step is the
same bits as clt's own trainer takes.

Parameters must be float32 CPU tensors (the f32 master weights). Each parameter's state lives in the clt context between steps; state_dict()
copies it out as torch tensors (exp_avg / exp_avg_sq: uint8 codes or float32 moments;
exp_avg_absmax / exp_avg_sq_absmax: float32, for 8-bit states; step: int) and
load_state_dict() puts it back, so checkpoints round-trip bit for bit."""
import numpy as np
import torch

from . import _core, _lib, _ops
from ._errors import invalid

_STATE_KEYS = ("exp_avg", "exp_avg_sq", "exp_avg_absmax", "exp_avg_sq_absmax")
# torch gives a parameter gradients of its own dtype: f32 for the f32 master weights.
_GRAD_DTYPES = {torch.float32: "f32"}


def _np(t):
    """A CPU tensor's memory as a NumPy array (bf16 as its uint16 bits), no copy."""
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().view(np.uint16)
    return t.numpy()


class _CltOptimizer(torch.optim.Optimizer):
    _op = None          # "adamw" or "lamb"
    _default_bits = 32

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, *,
                 optim_bits=None, block=256, min_8bit_size=4096,
                 device="host", context=None):
        name = type(self).__name__
        if not 0.0 <= lr:
            raise invalid(f"clt.torch.{name}", f"lr = {lr}: must be >= 0")
        if not (0.0 <= betas[0] < 1.0 and 0.0 <= betas[1] < 1.0):
            raise invalid(f"clt.torch.{name}", f"betas = {betas}: each must be in [0, 1)")
        bits = self._default_bits if optim_bits is None else optim_bits
        if bits not in (8, 32):
            raise invalid(f"clt.torch.{name}", f"optim_bits = {bits}: 8 or 32")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay))
        self.optim_bits = bits
        self.block = int(block)
        self.min_8bit_size = int(min_8bit_size)
        self.context = context if context is not None else _core.Context(device)
        self._dev = {}  # param -> its clt tensors; dropped by load_state_dict

    # ---- state ---------------------------------------------------------------------
    def _init_state(self, p, state):
        n = p.numel()
        state["step"] = 0
        if self.optim_bits == 8 and n >= self.min_8bit_size:
            nblocks = -(-n // self.block)
            zeros = np.zeros(n, np.float32)
            for key, signed in (("exp_avg", True), ("exp_avg_sq", False)):
                codes = np.empty(n, np.uint8)
                absmax = np.empty(nblocks, np.float32)
                # the code of 0.0 in each map, from the library's own quantizer
                _ops.run(self.context, "quantize8", zeros, codes, absmax,
                         is_signed=signed, block=self.block)
                state[key] = torch.from_numpy(codes)
                state[key + "_absmax"] = torch.from_numpy(absmax)
        else:
            state["exp_avg"] = torch.zeros(n, dtype=torch.float32)
            state["exp_avg_sq"] = torch.zeros(n, dtype=torch.float32)

    def _bind(self, arr, dtype=None):
        """A clt tensor for a host array: its own memory where the library can wrap it
        (then `shared` is True), else a device buffer holding a copy."""
        t = _core.Tensor.from_numpy(self.context, arr.reshape(-1), dtype=dtype, copy=False)
        return t, t.shared_view() is not None

    def _states(self, p, state):
        """The clt tensors of p's states, made from the torch state on first use."""
        dev = self._dev.get(p)
        if dev is None:
            dev = {"states": {key: self._bind(_np(state[key])) for key in _STATE_KEYS
                              if key in state}}
            self._dev[p] = dev
        return dev

    def _param_grad(self, dev, pn, gn, grad_dtype):
        """This step's param and grad tensors, and whether param must be read back.
        Shared memory when the library wraps host pointers; else persistent buffers."""
        if _lib.HAVE_WRAP_HOST:
            (pt, p_shared), (gt, g_shared) = self._bind(pn), self._bind(gn, grad_dtype)
            if p_shared and g_shared:
                return pt, gt, False
            pt.buffer.free()
            gt.buffer.free()
        code = _core.dtype_code(grad_dtype)
        if "param" not in dev:
            dev["param"] = _core.Tensor.empty(self.context, pn.size, "f32")
        if dev.get("grad") is None or dev["grad"].dtype != code:
            dev["grad"] = _core.Tensor.empty(self.context, gn.size, code)
        dev["param"].buffer.write(pn)
        dev["grad"].buffer.write(gn)
        return dev["param"], dev["grad"], True

    def _sync_to_torch(self):
        """Copies states held in device buffers back into the torch state tensors."""
        for p, dev in self._dev.items():
            state = self.state[p]
            for key, (t, shared) in dev["states"].items():
                if not shared:
                    out = _np(state[key]).reshape(-1).view(np.uint8)
                    t.buffer.read(out=out, offset=t.offset)

    def state_dict(self):
        self._sync_to_torch()
        return super().state_dict()

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)
        # torch casts every state tensor to the parameter's dtype, u8 codes included:
        # take the saved tensors as they were (copies, so the caller's dict stays apart).
        saved = state_dict["state"]
        for group, saved_group in zip(self.param_groups, state_dict["param_groups"]):
            for p, pid in zip(group["params"], saved_group["params"]):
                for key, value in saved.get(pid, {}).items():
                    if torch.is_tensor(value):
                        self.state[p][key] = value.detach().clone().contiguous()
        self._dev.clear()  # the next step uploads the loaded states

    # ---- the step ------------------------------------------------------------------
    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        name = type(self).__name__
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise invalid(f"clt.torch.{name}", "sparse gradients are not supported")
                if p.dtype != torch.float32 or p.device.type != "cpu":
                    raise invalid(f"clt.torch.{name}", f"parameter of dtype {p.dtype} on "
                                  f"{p.device}: clt steps float32 CPU parameters (the f32 "
                                  "master weights)")
                if p.grad.dtype not in _GRAD_DTYPES:
                    raise invalid(f"clt.torch.{name}", f"gradient dtype {p.grad.dtype}: "
                                  "float32")
                if not p.is_contiguous():
                    raise invalid(f"clt.torch.{name}", "parameter is not contiguous")
                state = self.state[p]
                if "step" not in state:
                    self._init_state(p, state)
                state["step"] += 1
                self._step_one(p, state, group, _GRAD_DTYPES[p.grad.dtype])
        return loss

    def _step_one(self, p, state, group, grad_dtype):
        dev = self._states(p, state)
        pn = _np(p.detach()).reshape(-1)
        gn = _np(p.grad.detach().contiguous()).reshape(-1)
        param_t, grad_t, read_back = self._param_grad(dev, pn, gn, grad_dtype)
        states = dev["states"]
        args = {"param": param_t, "grad": grad_t,
                "m": states["exp_avg"][0], "v": states["exp_avg_sq"][0]}
        q8 = "exp_avg_absmax" in states
        if q8:
            args["m_absmax"] = states["exp_avg_absmax"][0]
            args["v_absmax"] = states["exp_avg_sq_absmax"][0]
        beta1, beta2 = group["betas"]
        _ops.run(self.context, self._op, lr=group["lr"], beta1=beta1, beta2=beta2,
                 eps=group["eps"], weight_decay=group["weight_decay"], step=state["step"],
                 block=self.block if q8 else 0, **args)
        if read_back:
            param_t.buffer.read(out=pn.view(np.uint8))


class AdamW(_CltOptimizer):
    """torch.optim.AdamW's update (decoupled weight decay) with f32 moments, run by clt."""
    _op = "adamw"


class AdamW8bit(_CltOptimizer):
    """AdamW with both moments in clt's 8-bit block-wise format (bitsandbytes'
    AdamW8bit): about a quarter of the state memory."""
    _op = "adamw"
    _default_bits = 8


class LAMB(_CltOptimizer):
    """LAMB (You et al.): the AdamW update scaled per tensor by ‖p‖/‖u‖, f32 moments."""
    _op = "lamb"


class LAMB8bit(_CltOptimizer):
    """LAMB with 8-bit block-wise moments."""
    _op = "lamb"
    _default_bits = 8


__all__ = ["AdamW", "AdamW8bit", "LAMB", "LAMB8bit"]
