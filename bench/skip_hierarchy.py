"""Does a deterministic top-down path keep the upper levels of a deep MLP hierarchy in use? (issue 24)

`vae_nb.ladder.LadderVAE` is a chain: x depends on z_0 only, and level l reaches x through the priors
p(z_{l-1} | z_l), ..., p(z_0 | z_1). Its eight-level models switch levels 4-7 off after the KL warm-up. NVAE and
VDVAE instead carry a deterministic state h down the hierarchy: each level's prior and posterior are read from h,
its sample is added back into h, and x is decoded from the final h, so every level reaches the decoder directly.
This script trains such a model with the command line's recipe (Adam 1e-3, batch 128, the KL weight rising over 5,000
steps, log-variances floored at -10) and scores it as `vae_nb eval --split valid --k 100` does.

    python bench/skip_hierarchy.py --latent-dims 64,64,32,32,16,16,8,8 --epochs 30 --seed 1
"""
import argparse, json, math, time
from pathlib import Path
import torch
from torch import nn
import torch.nn.functional as F
from vae_nb.core import gaussian_kl
from vae_nb.data import data_info

LOGVAR_MIN, LOGVAR_MAX = -10.0, 10.0

def mlp(d_in:int, d_out:int, hidden:int, layers:int=2) -> nn.Sequential:
    "`layers` tanh hidden layers of `hidden` units, then a linear output."
    dims = [d_in] + [hidden] * layers
    body = [m for a, b in zip(dims, dims[1:]) for m in (nn.Linear(a, b), nn.Tanh())]
    return nn.Sequential(*body, nn.Linear(dims[-1], d_out))

def gaussian(params:torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    "Mean and floored log-variance from a layer's output."
    mu, logvar = params.chunk(2, dim=-1)
    return mu, logvar.clamp(LOGVAR_MIN, LOGVAR_MAX)

def log_normal(z, mu, logvar):
    "log N(z; mu, exp(logvar)), summed over the last dimension."
    return (-0.5 * (math.log(2 * math.pi) + logvar + (z - mu) ** 2 / logvar.exp())).sum(-1)

class SkipHierarchy(nn.Module):
    "Top-down hierarchy with a residual state h: p(z_l | h), q(z_l | h, a_l), h += proj_l(z_l), p(x | h_final)."
    def __init__(self, d_x:int, latent_dims:list[int], hidden:int=200):
        super().__init__()
        self.dims, L = latent_dims, len(latent_dims)
        self.up = nn.ModuleList([mlp(d_x, hidden, hidden)] + [mlp(hidden, hidden, hidden, 1) for _ in range(L - 1)])
        self.h0 = nn.Parameter(torch.zeros(hidden))
        self.prior = nn.ModuleList([mlp(hidden, 2 * d, hidden, 1) for d in latent_dims])
        self.post = nn.ModuleList([mlp(2 * hidden, 2 * d, hidden, 1) for d in latent_dims])
        self.proj = nn.ModuleList([mlp(d, hidden, hidden, 1) for d in latent_dims])
        self.dec = mlp(hidden, d_x, hidden)

    def forward(self, x:torch.Tensor):
        "Per level: z, q's (mu, logvar), p's (mu, logvar); and the decoder's logits."
        a, acts = x, []
        for f in self.up: a = torch.tanh(f(a)); acts.append(a)
        h, out = self.h0.expand(len(x), -1), [None] * len(self.dims)
        for l in reversed(range(len(self.dims))):
            p = gaussian(self.prior[l](h))
            q = gaussian(self.post[l](torch.cat([h, acts[l]], -1)))
            z = q[0] + (0.5 * q[1]).exp() * torch.randn_like(q[0])
            h = h + self.proj[l](z)
            out[l] = (z, q, p)
        return out, self.dec(h)

def loss_terms(model, x, beta:float):
    "The β-weighted negative ELBO and its parts (KL per level in nats)."
    levels, logits = model(x)
    recon = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1).mean()
    kls = [gaussian_kl(*q, *p, reduction="none").sum(-1).mean() for _, q, p in levels]
    return recon + beta * sum(kls), recon, kls

@torch.no_grad()
def nll(model, x, k:int=100, chunk:int=50) -> tuple[float, float]:
    "Importance-weighted NLL with k samples, and the negative ELBO, in nats per image."
    total_nll = total_elbo = 0.0
    for xb in x.split(chunk):
        xr = xb.repeat_interleave(k, 0)
        levels, logits = model(xr)
        logw = -F.binary_cross_entropy_with_logits(logits, xr, reduction="none").sum(-1)
        for z, q, p in levels: logw = logw + log_normal(z, *p) - log_normal(z, *q)
        logw = logw.view(len(xb), k)
        total_nll -= (torch.logsumexp(logw, 1) - math.log(k)).sum().item()
        total_elbo -= logw.mean(1).sum().item()
    return total_nll / len(x), total_elbo / len(x)

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--latent-dims", default="64,64,32,32,16,16,8,8")
    ap.add_argument("--hidden", type=int, default=200)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--warmup", type=int, default=5000, help="KL warm-up steps (at most half the run)")
    ap.add_argument("--root", default="../shared/data")
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--eval-n", type=int, default=10000, help="valid images scored (all: 10,000)")
    ap.add_argument("--json", help="write the results here")
    a = ap.parse_args()
    torch.set_num_threads(1); torch.manual_seed(a.seed)
    info = data_info("binarized-mnist")
    train = info.loader(Path(a.root), "train", False).tensors[0].flatten(1)
    valid = info.loader(Path(a.root), "valid", False).tensors[0].flatten(1)[: a.eval_n]
    dims = [int(d) for d in a.latent_dims.split(",")]
    model = SkipHierarchy(train.shape[1], dims, a.hidden)
    with torch.no_grad():   # start at the data's marginal, as vae_nb's builders do
        model.dec[-1].bias.copy_(torch.logit(train.mean(0).clamp(1e-3, 1 - 1e-3)))
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    steps_per_epoch = math.ceil(len(train) / 128)
    warmup, step, t0 = min(a.warmup, a.epochs * steps_per_epoch // 2), 0, time.time()
    g = torch.Generator().manual_seed(a.seed)
    for epoch in range(a.epochs):
        model.train()
        for idx in torch.randperm(len(train), generator=g).split(128):
            step += 1
            loss, recon, kls = loss_terms(model, train[idx], min(1.0, step / warmup))
            if not torch.isfinite(loss): raise SystemExit(f"non-finite loss at step {step}")
            opt.zero_grad(); loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 200.)
            opt.step()
        model.eval()
        with torch.no_grad(): _, vr, vk = loss_terms(model, valid[:2000], 1.0)
        print(f"epoch {epoch + 1} valid -ELBO {vr.item() + sum(vk).item():.2f} recon {vr.item():.2f} KL per level "
              + " ".join(f"{v.item():.3g}" for v in vk) + f" ({time.time() - t0:.0f} s)", flush=True)
    model.eval()
    score, elbo = nll(model, valid, a.k)
    with torch.no_grad():
        per_batch = [[v.item() * len(b) for v in loss_terms(model, b, 1.)[2]] for b in valid.split(1000)]
    kls = [sum(v) / len(valid) for v in zip(*per_batch)]
    res = {"latent_dims": dims, "seed": a.seed, "epochs": a.epochs, "nll": round(score, 2), "neg_elbo": round(elbo, 2),
           "kl_per_level": [round(v, 3) for v in kls], "seconds": round(time.time() - t0)}
    print(json.dumps(res))
    if a.json: Path(a.json).write_text(json.dumps(res))

if __name__ == "__main__": main()
