"""model_parity.py - the PyTorch half of the trainer's parity test

Usage: /usr/bin/python3 model_parity.py CONFIG.json DIR
DIR holds what build/tests/model-parity wrote (see tests/tools/model-parity.c).
This file is an independent PyTorch implementation of the model in
docs/TRAINER.md ("Model"): RMSNorm, rotary on halves (i, i + hd/2), causal
attention written out (torch 1.13 has no scaled_dot_product_attention),
SwiGLU, mean cross-entropy; torch.optim.AdamW with decay on 2-D tensors only,
clip_grad_norm_, linear warmup then cosine. It loads the same weights and
batch and checks: the first loss within 1e-5 relative, every gradient within
1e-4 relative norm, the loss after 10 AdamW steps within 1e-4 relative.
Exit status 0 when all hold, 1 otherwise; prints the measured errors.
"""
import json
import math
import sys

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
except ImportError as e:
    print("FAIL: python3-torch is needed for the parity test (%s); "
          "scripts/deps installs it" % e)
    sys.exit(1)

torch.set_num_threads(1)


def load(cfg_path, d):
    cfg = json.load(open(cfg_path))
    cfg.setdefault("tied", True)
    cfg.setdefault("norm_eps", 1e-5)
    cfg.setdefault("rope_theta", 10000.0)
    flat = np.fromfile(d + "/params.bin", dtype="<f4")
    grads = np.fromfile(d + "/grads.bin", dtype="<f4")
    tensors, cgrads = {}, {}
    for line in open(d + "/tensors.txt"):
        name, rows, cols, off, ndim = line.split()
        rows, cols, off, ndim = int(rows), int(cols), int(off), int(ndim)
        shape = (rows, cols) if ndim == 2 else (rows,)
        n = rows * cols
        tensors[name] = torch.nn.Parameter(
            torch.from_numpy(flat[off:off + n].copy()).reshape(shape))
        cgrads[name] = torch.from_numpy(grads[off:off + n].copy()).reshape(
            shape)
    lines = open(d + "/losses.txt").read().split("\n")
    B, T = (int(x) for x in lines[0].split())
    closses = [float(x) for x in lines[1:] if x.strip()]
    tok = np.fromfile(d + "/batch.bin", dtype="<i4").astype(np.int64)
    tgt = np.fromfile(d + "/targets.bin", dtype="<i4").astype(np.int64)
    opt = {}
    for line in open(d + "/optim.txt"):
        k, v = line.split()
        opt[k] = float(v)
    return (cfg, tensors, cgrads, closses, torch.from_numpy(tok).view(B, T),
            torch.from_numpy(tgt).view(B, T), opt)


def rope_tables(cfg, T):
    hd = cfg["dim"] // cfg["heads"]
    half = hd // 2
    i = torch.arange(half, dtype=torch.float64)
    freq = float(cfg["rope_theta"]) ** (-i / half)
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
    wu, total = int(o["warmup_steps"]), int(o["total_steps"])
    if step < wu:
        return o["lr"] * (step + 1) / wu
    p = (step - wu) / (total - wu) if total > wu else 1.0
    p = min(p, 1.0)
    return o["min_lr"] + 0.5 * (o["lr"] - o["min_lr"]) * (1 + math.cos(
        math.pi * p))


def main():
    cfg, p, cgrads, closses, tok, tgt, o = load(sys.argv[1], sys.argv[2])
    ok = True

    loss = forward(cfg, p, tok, tgt)
    loss.backward()
    rel = abs(loss.item() - closses[0]) / abs(loss.item())
    print("loss: torch %.9g C %.9g relative %.3g (limit 1e-5)" %
          (loss.item(), closses[0], rel))
    ok &= rel <= 1e-5
    worst, worst_name = 0.0, ""
    for name, t in p.items():
        ref = t.grad
        r = ((cgrads[name] - ref).norm() / ref.norm()).item()
        if not r <= 1e-4:
            print("gradient %s: relative norm error %.3g (limit 1e-4)" %
                  (name, r))
            ok = False
        if r > worst or r != r:
            worst, worst_name = r, name
    print("gradients: %d tensors, worst relative norm error %.3g (%s) "
          "(limit 1e-4)" % (len(p), worst, worst_name))

    decay = [t for t in p.values() if t.dim() == 2]
    no_decay = [t for t in p.values() if t.dim() == 1]
    opt = torch.optim.AdamW([
        {"params": decay, "weight_decay": o["weight_decay"]},
        {"params": no_decay, "weight_decay": 0.0},
    ], lr=o["lr"], betas=(o["beta1"], o["beta2"]), eps=o["eps"])
    losses = []
    for step in range(11):
        opt.zero_grad(set_to_none=True)
        loss = forward(cfg, p, tok, tgt)
        losses.append(loss.item())
        if step == 10:
            break
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(p.values()), o["grad_clip"])
        for g in opt.param_groups:
            g["lr"] = lr_at(o, step)
        opt.step()
    rel10 = abs(losses[10] - closses[10]) / abs(losses[10])
    worst_step = max(abs(a - b) / abs(a) for a, b in zip(losses, closses))
    print("after 10 AdamW steps: torch %.9g C %.9g relative %.3g "
          "(limit 1e-4); worst step %.3g" %
          (losses[10], closses[10], rel10, worst_step))
    ok &= rel10 <= 1e-4
    if losses[10] > losses[0] - 0.1:
        print("the loss did not go down (%.4g -> %.4g)" % (losses[0],
                                                            losses[10]))
        ok = False
    print("parity: %s" % ("ok" if ok else "FAILED"))
    sys.exit(0 if ok else 1)


main()
