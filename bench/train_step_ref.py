#!/usr/bin/python3
"""PyTorch CPU reference for bench/train_step.ts: one Adam training step of an ISL config
(structure of ../shared/tools/isl_torch_ref.py, generalised to the plan's config fields), same
batch, ISL loss (per-head masked 256-bin cross-entropy / ln 256, 0.5 autoencoding + 0.5 labels).
Usage: train_step_ref.py CONFIG_JSON BATCH REPS [THREADS]; prints the parameter count, then the
median seconds per step as the last line."""
import json, math, os, sys, time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'shared', 'tools'))
import torch, torch.nn as nn, torch.nn.functional as F
from isl_torch_ref import Module, crop


class Tower(nn.Module):
    def __init__(s, cfg, scale, crop_size, cin):
        super().__init__()
        base, up_base = cfg['baseDepth'], cfg['upBaseDepth']
        s.crop = (cfg['inputSize'] - crop_size) // 2
        mods = []; c = cin; size = crop_size
        for _ in range(scale):
            size = (size - 2) // 2 - 2
            m = Module(c, 'down', size, base); mods.append(m); c = m.cout
            m = Module(c, 'in', size, base); mods.append(m); c = m.cout
        for _ in range(cfg['towerBlocks'] - 4 * scale):
            size -= 2; m = Module(c, 'in', size, base); mods.append(m); c = m.cout
        for _ in range(scale):
            size = 2 * size - 4
            m = Module(c, 'up', size, base=up_base); mods.append(m); c = m.cout
            mods.append('crop')
            m = Module(c, 'in', size, base); mods.append(m); c = m.cout
        s.seq = nn.ModuleList([m for m in mods if m != 'crop']); s.plan = mods; s.cout = c; s.out = size

    def forward(s, x):
        x = crop(x, s.crop); it = iter(s.seq)
        for m in s.plan:
            x = crop(x, 2) if m == 'crop' else next(it)(x)
        return x


class Net(nn.Module):
    def __init__(s, cfg, heads):
        super().__init__()
        s.proj = nn.Conv2d(cfg['inputChannels'], cfg['projectionDepth'], 1)
        s.towers = nn.ModuleList([Tower(cfg, t['scale'], t['crop'], cfg['projectionDepth']) for t in cfg['towers']])
        c = sum(t.cout for t in s.towers); size = s.towers[0].out; ups = []
        for _ in range(cfg['upperBlocks']):
            size -= 2; m = Module(c, 'in', size, cfg['baseDepth']); ups.append(m); c = m.cout
        s.upper = nn.ModuleList(ups)
        s.bns = nn.ModuleList([nn.BatchNorm2d(c) for _ in range(heads)])
        s.convs = nn.ModuleList([nn.Conv2d(2 * c, cfg['bins'], 1) for _ in range(heads)])

    def forward(s, x):
        x = s.proj(x)
        x = torch.cat([t(x) for t in s.towers], 1)
        for m in s.upper: x = m(x)
        outs = []
        for bn, conv in zip(s.bns, s.convs):
            z = bn(x); outs.append(conv(torch.cat([F.relu(z), torch.tanh(z)], 1)))
        return outs


def main():
    cfg = json.loads(sys.argv[1]); batch = int(sys.argv[2]); reps = int(sys.argv[3])
    torch.set_num_threads(int(sys.argv[4]) if len(sys.argv) > 4 else 2)
    torch.manual_seed(0)
    n_ae = cfg['heads']['autoencoding']; n_l = len(cfg['heads']['labels']); heads = n_ae + n_l
    net = Net(cfg, heads).train()
    print('params', sum(p.numel() for p in net.parameters()))
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    S = cfg['inputSize']
    x = torch.rand(batch, cfg['inputChannels'], S, S)
    with torch.no_grad():
        out = net(x)[0].shape[2]
    targets = [torch.randint(0, cfg['bins'], (batch, out, out)) for _ in range(heads)]
    masks = [torch.ones(batch, out, out) for _ in range(heads)]
    ln = math.log(cfg['bins'])

    def step():
        opt.zero_grad(set_to_none=True)
        outs = net(x)
        ls = [(F.cross_entropy(o, t, reduction='none') * m).sum() / (m.sum() * ln) for o, t, m in zip(outs, targets, masks)]
        loss = 0.5 * torch.stack(ls[:n_ae]).mean() + 0.5 * torch.stack(ls[n_ae:]).mean()
        loss.backward(); opt.step()
        return loss.item()

    step()
    times = []
    for _ in range(reps):
        t = time.perf_counter(); step(); times.append(time.perf_counter() - t)
    times.sort()
    print(times[len(times) // 2])


if __name__ == '__main__':
    main()
