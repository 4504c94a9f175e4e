"""The agent of ../shared/spec/architecture.md written the way one writes PyTorch for speed, timed on the same
work attn-bench does, printing the same JSON line.

    /usr/bin/python3 bench/torch_bench.py --preset minatar --batch 16 --unroll 20 --threads 2 [--seconds S]

Float32, NCHW, the four ConvLSTM gates as one convolution over [f, h], attention as batched matrix products,
nn.LSTMCell for the policy core, no Python loop over the batch. Timing only: the weights are PyTorch's default
initialisation, not libattnagent's. The work matches attn-bench's: acting is one step of B environments under
torch.inference_mode(); an update is T recorded steps (truncated BPTT, the entering state detached), backward
with fixed output gradients (zero for the logits, 1e-3 for the values, as attn-bench gives), an RMSProp step."""

import argparse
import json
import math
import os
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from presets import PRESETS, derived  # noqa: E402

FORGET_BIAS = 1.0


class Agent(nn.Module):
    def __init__(self, p):
        super().__init__()
        d = derived(p)
        self.p, self.d = p, d
        convs, c = [], p["C"]
        for out, k, s, pad in p["conv"]:
            convs.append(nn.Conv2d(c, out, k, stride=s, padding=pad))
            c = out
        self.convs = nn.ModuleList(convs)
        L, N = p["L"], p["N"]
        self.convlstm = nn.Conv2d(c + L, 4 * L, 3, padding=1)
        self.q1 = nn.Linear(p["Hp"], p["q_hidden"])
        self.q2 = nn.Linear(p["q_hidden"], N * d["kd"])
        self.a1 = nn.Linear(d["a_in"], p["a_hidden"])
        self.a2 = nn.Linear(p["a_hidden"], p["Hp"])
        self.core = nn.LSTMCell(p["Hp"], p["Hp"])
        with torch.no_grad():  # the forget-gate constant folded into the bias: same arithmetic per step
            self.core.bias_ih[p["Hp"]:2 * p["Hp"]] += FORGET_BIAS
            self.convlstm.bias[L:2 * L] += FORGET_BIAS
        self.policy = nn.Linear(p["Hp"], p["A"])
        self.value = nn.Linear(p["Hp"], 1)
        gh, gw, U, V = d["gh"], d["gw"], p["U"], p["V"]
        y = torch.arange(1, gh + 1, dtype=torch.float64)
        x = torch.arange(1, gw + 1, dtype=torch.float64)
        u = torch.arange(1, U + 1, dtype=torch.float64)
        v = torch.arange(1, V + 1, dtype=torch.float64)
        S = torch.cos(math.pi * u[:, None, None, None] * y[None, None, :, None] / gh) * \
            torch.cos(math.pi * v[None, :, None, None] * x[None, None, None, :] / gw)   # U × V × gh × gw
        self.register_buffer("basis", S.reshape(U * V, gh * gw).t().contiguous().float())  # P × c_s

    def initial_state(self, B):
        L, gh, gw, Hp = self.p["L"], self.d["gh"], self.d["gw"], self.p["Hp"]
        return (torch.zeros(B, L, gh, gw), torch.zeros(B, L, gh, gw), torch.zeros(B, Hp), torch.zeros(B, Hp))

    def step(self, obs, prev_reward, prev_action, first, state):
        """obs uint8 B×H×W×C; prev_reward B; prev_action B (−1 = none); first B (1 = episode start)."""
        vh, vc, ph, pc = state
        keep = (1.0 - first)
        k4 = keep[:, None, None, None]
        vh, vc, ph, pc = vh * k4, vc * k4, ph * keep[:, None], pc * keep[:, None]
        prev_reward = prev_reward * keep
        p, d = self.p, self.d
        B, L, ck, N = obs.shape[0], p["L"], p["ck"], p["N"]
        x = obs.permute(0, 3, 1, 2).float().mul_(1.0 / 255.0)
        for conv in self.convs:
            x = F.relu(conv(x))
        i, f, g, o = self.convlstm(torch.cat([x, vh], 1)).chunk(4, 1)
        vc = torch.sigmoid(f) * vc + torch.sigmoid(i) * torch.tanh(g)
        vh = torch.sigmoid(o) * torch.tanh(vc)
        O = vh.flatten(2).transpose(1, 2)                                     # B × P × L
        S = self.basis.expand(B, -1, -1)
        Kp = torch.cat([O[:, :, :ck], S], 2)                                  # B × P × kd
        Vp = torch.cat([O[:, :, ck:], S], 2)                                  # B × P × vd
        Q = self.q2(F.relu(self.q1(ph))).view(B, N, d["kd"])
        A = torch.softmax(torch.bmm(Q, Kp.transpose(1, 2)), 2)               # B × N × P
        ans = torch.bmm(A, Vp)                                                # B × N × vd
        onehot = F.one_hot((prev_action * keep.long()).clamp(min=0), p["A"]).float() * \
            ((prev_action >= 0) & (keep > 0))[:, None].float()
        a_in = torch.cat([ans.flatten(1), Q.flatten(1), prev_reward[:, None], onehot], 1)
        z = self.a2(F.relu(self.a1(a_in)))
        ph, pc = self.core(z, (ph, pc))
        return self.policy(ph), self.value(ph).squeeze(1), (vh, vc, ph, pc), A


def rss_now_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="minatar", choices=sorted(PRESETS))
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--unroll", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=3.0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(1)
    p = PRESETS[a.preset]
    B, T = a.batch, a.unroll
    net = Agent(p)
    opt = torch.optim.RMSprop(net.parameters(), lr=2e-4, alpha=0.99, eps=0.01)

    gen = torch.Generator().manual_seed(1)
    obs = torch.randint(0, 256, (B, p["H"], p["W"], p["C"]), dtype=torch.uint8, generator=gen)
    reward = torch.zeros(B)
    action = torch.full((B,), -1, dtype=torch.long)
    first = torch.zeros(B)
    dlogits = torch.zeros(T, B, p["A"])
    dvalues = torch.full((T, B), 1e-3)

    # Acting: one step of B environments, no graph; also the latency of one step.
    state = net.initial_state(B)
    with torch.inference_mode():
        net.step(obs, reward, action, first, state)  # warm-up
        steps, t0 = 0, time.perf_counter()
        while True:
            _, _, state, _ = net.step(obs, reward, action, first, state)
            steps += 1
            t = time.perf_counter() - t0
            if t >= a.seconds:
                break
    act_fps, latency_us = steps * B / t, 1e6 * t / steps

    # Training: T recorded steps from a detached state, backward, RMSProp step.
    def update(state):
        state = tuple(s.detach() for s in state)
        logits, values = [], []
        for _ in range(T):
            lg, v, state, _ = net.step(obs, reward, action, first, state)
            logits.append(lg)
            values.append(v)
        opt.zero_grad(set_to_none=True)
        torch.autograd.backward([torch.stack(logits), torch.stack(values)], [dlogits, dvalues])
        opt.step()
        return state

    rss_before = rss_now_mb()
    state = update(net.initial_state(B))  # warm-up (allocates the optimizer's slots)
    updates, t0 = 0, time.perf_counter()
    while True:
        state = update(state)
        updates += 1
        t = time.perf_counter() - t0
        if t >= a.seconds:
            break
    train_fps = updates * T * B / t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({"preset": a.preset, "batch": B, "unroll": T, "threads": a.threads,
                      "act_fps": round(act_fps, 1), "train_fps": round(train_fps, 1),
                      "step_latency_us": round(latency_us, 1), "peak_rss_mb": round(peak, 1),
                      "train_rss_mb": round(peak - rss_before, 1),
                      "params": sum(q.numel() for q in net.parameters()),
                      "torch": torch.__version__}))


if __name__ == "__main__":
    main()
