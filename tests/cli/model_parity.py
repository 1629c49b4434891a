"""model_parity.py - the PyTorch half of the trainer's parity test

Usage: /usr/bin/python3 model_parity.py CONFIG.json DIR
DIR holds what build/tests/model-parity wrote (see tests/tools/model-parity.c).
The model itself, an independent PyTorch implementation of docs/TRAINER.md
("Model"), is tests/cli/torch_model.py (shared with scripts/bench-train):
RMSNorm, rotary on halves (i, i + hd/2), causal attention written out,
SwiGLU, mean cross-entropy; torch.optim.AdamW with decay on 2-D tensors
only, clip_grad_norm_, linear warmup then cosine. This file loads the C
model's weights and batch into it and checks: the first loss within 1e-5
relative, every gradient within 1e-4 relative norm, the loss after 10 AdamW
steps within 1e-4 relative.
Exit status 0 when all hold, 1 otherwise; prints the measured errors.
"""
import json
import sys

try:
    import numpy as np
    import torch
    import torch_model as tm
except ImportError as e:
    print("FAIL: python3-torch is needed for the parity test (%s); "
          "scripts/deps installs it" % e)
    sys.exit(1)

torch.set_num_threads(1)


def load(cfg_path, d):
    cfg = tm.config_defaults(json.load(open(cfg_path)))
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


def main():
    cfg, p, cgrads, closses, tok, tgt, o = load(sys.argv[1], sys.argv[2])
    ok = True

    loss = tm.forward(cfg, p, tok, tgt)
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

    opt = tm.adamw(p, o)
    losses = []
    for step in range(10):
        losses.append(tm.train_step(cfg, p, opt, o, step, tok, tgt)[0])
    with torch.no_grad():
        losses.append(tm.forward(cfg, p, tok, tgt).item())
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
