"""torch_model.py - the trainer's model in PyTorch, for parity and benchmarks

An independent PyTorch 1.13 implementation of the model in docs/TRAINER.md
("Model", "Optimizer"): RMSNorm, rotary on halves (i, i + hd/2), causal
attention written out (torch 1.13 has no scaled_dot_product_attention),
SwiGLU, mean cross-entropy; AdamW parameter groups with weight decay on
2-D tensors only; linear warmup then cosine. Imported by
tests/cli/model_parity.py (the parity test t0220, which loads the C
model's weights) and scripts/bench-train (the speed comparison, which
uses init()). Parameters are a dict name -> tensor, named as the C model
names them (trainer/model.c).
"""
import math

import torch
import torch.nn.functional as F


def config_defaults(cfg):
    """Fill the optional keys of a model config with their defaults."""
    cfg.setdefault("tied", True)
    cfg.setdefault("norm_eps", 1e-5)
    cfg.setdefault("rope_theta", 10000.0)
    return cfg


def tensor_shapes(cfg):
    """(name, shape) in the C model's parameter order."""
    C, Fd, V = cfg["dim"], cfg["ffn_dim"], cfg["vocab"]
    out = [("embed", (V, C))]
    for l in range(cfg["layers"]):
        for n, s in (("attn_norm", (C,)), ("wq", (C, C)), ("wk", (C, C)),
                     ("wv", (C, C)), ("wo", (C, C)), ("ffn_norm", (C,)),
                     ("w1", (Fd, C)), ("w3", (Fd, C)), ("w2", (C, Fd))):
            out.append(("layers.%d.%s" % (l, n), s))
    out.append(("norm", (C,)))
    if not cfg["tied"]:
        out.append(("head", (V, C)))
    return out


def init(cfg, seed):
    """Fresh parameters with the C model's distributions (not its values):
    matrices N(0, 0.02), wo and w2 N(0, 0.02 / sqrt(2 L)), norms 1."""
    g = torch.Generator().manual_seed(seed)
    p = {}
    for name, shape in tensor_shapes(cfg):
        if len(shape) == 1:
            t = torch.ones(shape)
        else:
            std = 0.02
            if name.endswith((".wo", ".w2")):
                std = 0.02 / math.sqrt(2.0 * cfg["layers"])
            t = torch.randn(shape, generator=g) * std
        p[name] = torch.nn.Parameter(t)
    return p


def rope_tables(cfg, T):
    hd = cfg["dim"] // cfg["heads"]
    half = hd // 2
    i = torch.arange(half, dtype=torch.float64)
    freq = float(cfg["rope_theta"])**(-i / half)
    ang = torch.arange(T, dtype=torch.float64)[:, None] * freq[None, :]
    return torch.cos(ang).float(), torch.sin(ang).float()


def rmsnorm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rotate(x, cos, sin):
    # x (B,NH,T,hd); pairs (i, i + hd/2)
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1)


def forward(cfg, p, tok, tgt):
    """Mean cross-entropy of tok (B,T) against tgt (B,T)."""
    B, T = tok.shape
    C, NH = cfg["dim"], cfg["heads"]
    hd = C // NH
    eps = cfg["norm_eps"]
    cos, sin = rope_tables(cfg, T)
    mask = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
    x = p["embed"][tok]
    for l in range(cfg["layers"]):
        w = lambda n: p["layers.%d.%s" % (l, n)]
        h = rmsnorm(x, w("attn_norm"), eps)
        q = (h @ w("wq").t()).view(B, T, NH, hd).transpose(1, 2)
        k = (h @ w("wk").t()).view(B, T, NH, hd).transpose(1, 2)
        v = (h @ w("wv").t()).view(B, T, NH, hd).transpose(1, 2)
        q, k = rotate(q, cos, sin), rotate(k, cos, sin)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hd))
        att = torch.softmax(att.masked_fill(mask, float("-inf")), dim=-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, C)
        x = x + y @ w("wo").t()
        h = rmsnorm(x, w("ffn_norm"), eps)
        g = F.silu(h @ w("w1").t()) * (h @ w("w3").t())
        x = x + g @ w("w2").t()
    x = rmsnorm(x, p["norm"], eps)
    head = p["embed"] if cfg["tied"] else p["head"]
    logits = x @ head.t()
    return F.cross_entropy(logits.reshape(B * T, -1), tgt.reshape(B * T))


def lr_at(o, step):
    """Learning rate at 0-based step: o has lr, min_lr, warmup_steps,
    total_steps (trainer/optim.c adamw_lr)."""
    wu, total = int(o["warmup_steps"]), int(o["total_steps"])
    if step < wu:
        return o["lr"] * (step + 1) / wu
    p = (step - wu) / (total - wu) if total > wu else 1.0
    p = min(p, 1.0)
    return o["min_lr"] + 0.5 * (o["lr"] - o["min_lr"]) * (1 + math.cos(
        math.pi * p))


def adamw(p, o):
    """torch.optim.AdamW with decay on the 2-D tensors only; o has lr,
    beta1, beta2, eps, weight_decay."""
    decay = [t for t in p.values() if t.dim() == 2]
    no_decay = [t for t in p.values() if t.dim() == 1]
    return torch.optim.AdamW([
        {"params": decay, "weight_decay": o["weight_decay"]},
        {"params": no_decay, "weight_decay": 0.0},
    ], lr=o["lr"], betas=(o["beta1"], o["beta2"]), eps=o["eps"])


def train_step(cfg, p, opt, o, step, tok, tgt):
    """One step as nh-train run does it: forward, backward, global-norm
    clip, the step's learning rate, AdamW. Returns (loss, grad norm)."""
    opt.zero_grad(set_to_none=True)
    loss = forward(cfg, p, tok, tgt)
    loss.backward()
    gn = torch.nn.utils.clip_grad_norm_(list(p.values()), o["grad_clip"])
    for g in opt.param_groups:
        g["lr"] = lr_at(o, step)
    opt.step()
    return loss.item(), float(gn)
