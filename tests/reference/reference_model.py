"""An independent PyTorch implementation of the attention-augmented agent.

Written from docs/architecture.md and docs/checkpoint.md of the specification alone, never from the C code, so
that agreement between the two is evidence that both follow the specification. Parameters are registered under
the checkpoint names (``vision.convlstm.weight``, ``core.weight_ih``, ...) with the checkpoint layouts, so
``model.load_state_dict`` takes a libattnagent checkpoint as it is.

Inside, tensors are NCHW as PyTorch likes them; the public formats (observations B×H×W×C, ConvLSTM state
B×h×w×L) are converted at the edges by ``obs_to_nchw``, ``state_from_public`` and ``state_to_public``.

Run this file to check the reference against itself: maps sum to 1, episode resets isolate environments, and
autograd agrees with central finite differences in float64.
"""

import json
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

NO_ACTION = -1
FORGET_BIAS = 1.0  # added to the forget gate of both LSTMs in the forward pass; never stored in a checkpoint


def config_from_metadata(metadata):
    """The network configuration held in a checkpoint's ``__metadata__``."""
    if metadata.get("format") != "attnagent":
        raise ValueError("not an attnagent checkpoint (format=%r)" % metadata.get("format"))
    if metadata.get("format_version") != "1":
        raise ValueError("unsupported format_version %r" % metadata.get("format_version"))
    return json.loads(metadata["config"])


def grid_size(cfg):
    """(h, w) left by the conv stack: each layer maps n to floor((n + 2·pad − k) / stride) + 1."""
    h, w = cfg["obs_h"], cfg["obs_w"]
    for _out, k, stride, pad in cfg["conv"]:
        h = (h + 2 * pad - k) // stride + 1
        w = (w + 2 * pad - k) // stride + 1
    return h, w


def spatial_basis(h, w, U, V, dtype=torch.float64):
    """The fixed basis as c_s × h × w: S[(u−1)·V+(v−1)][y][x] = cos(π·u·(y+1)/h) · cos(π·v·(x+1)/w)."""
    y = torch.arange(h, dtype=dtype) + 1
    x = torch.arange(w, dtype=dtype) + 1
    u = torch.arange(1, U + 1, dtype=dtype)
    v = torch.arange(1, V + 1, dtype=dtype)
    rows = torch.cos(math.pi * u[:, None] * y[None, :] / h)  # U × h
    cols = torch.cos(math.pi * v[:, None] * x[None, :] / w)  # V × w
    basis = rows[:, None, :, None] * cols[None, :, None, :]  # U × V × h × w
    return basis.reshape(U * V, h, w)


def lstm_gates(pre, c_prev, dim):
    """The LSTM update shared by both recurrent layers: `pre` holds gates i, f, g, o in blocks along `dim`."""
    i, f, g, o = pre.chunk(4, dim=dim)
    c = torch.sigmoid(f + FORGET_BIAS) * c_prev + torch.sigmoid(i) * torch.tanh(g)
    h = torch.sigmoid(o) * torch.tanh(c)
    return h, c


class Vision(nn.Module):
    """Conv stack (conv + ReLU per layer) and a 3×3 ConvLSTM over [f_t, h^v_{t-1}]."""

    def __init__(self, cfg):
        super().__init__()
        self.num_conv = len(cfg["conv"])
        channels = cfg["obs_c"]
        for i, (out, k, stride, pad) in enumerate(cfg["conv"]):
            self.add_module("conv%d" % i, nn.Conv2d(channels, out, k, stride=stride, padding=pad))
            channels = out
        L = cfg["lstm_channels"]
        self.convlstm = nn.Conv2d(channels + L, 4 * L, 3, padding=1)

    def forward(self, x, h_prev, c_prev):
        for i in range(self.num_conv):
            x = F.relu(getattr(self, "conv%d" % i)(x))
        pre = self.convlstm(torch.cat([x, h_prev], dim=1))
        return lstm_gates(pre, c_prev, dim=1)


class MLP(nn.Module):
    """Linear layers fc0, fc1, ... with ReLU between them and none after the last."""

    def __init__(self, widths):
        super().__init__()
        self.num_layers = len(widths) - 1
        for j in range(self.num_layers):
            self.add_module("fc%d" % j, nn.Linear(widths[j], widths[j + 1]))

    def forward(self, x):
        for j in range(self.num_layers):
            x = getattr(self, "fc%d" % j)(x)
            if j + 1 < self.num_layers:
                x = F.relu(x)
        return x


class Core(nn.Module):
    """The policy LSTM with checkpoint layout: weight_ih [4H, in], weight_hh [4H, H], one bias [4H]."""

    def __init__(self, inputs, units):
        super().__init__()
        self.weight_ih = nn.Parameter(torch.empty(4 * units, inputs))
        self.weight_hh = nn.Parameter(torch.empty(4 * units, units))
        self.bias = nn.Parameter(torch.empty(4 * units))
        bound = 1.0 / math.sqrt(units)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def forward(self, z, h_prev, c_prev):
        pre = F.linear(z, self.weight_ih, self.bias) + F.linear(h_prev, self.weight_hh)
        return lstm_gates(pre, c_prev, dim=1)


class Agent(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.h, self.w = grid_size(cfg)
        self.L = cfg["lstm_channels"]
        self.ck = cfg["key_channels"]
        self.cv = self.L - self.ck
        self.cs = cfg["basis_u"] * cfg["basis_v"]
        self.N = cfg["num_queries"]
        self.A = cfg["num_actions"]
        self.Hp = cfg["core_units"]
        # What the first layer receives: pixels / 255, binary planes and floats as they are.
        self.obs_scale = {"u8": 1.0 / 255.0, "u8_binary": 1.0, "f32": 1.0}.get(cfg["obs_type"])
        if self.obs_scale is None:
            raise ValueError("unknown obs_type %r" % cfg["obs_type"])
        if not 0 < self.ck < self.L:
            raise ValueError("key_channels must lie strictly between 0 and lstm_channels")

        self.vision = Vision(cfg)
        self.query = MLP([self.Hp] + list(cfg["query_hidden"]) + [self.N * (self.ck + self.cs)])
        answer_in = self.N * (self.cv + self.cs) + self.N * (self.ck + self.cs) + 1 + self.A
        self.answer = MLP([answer_in] + list(cfg["answer_hidden"]) + [self.Hp])
        self.core = Core(self.Hp, self.Hp)
        self.policy = nn.Linear(self.Hp, self.A)
        self.value = nn.Linear(self.Hp, 1)
        self.register_buffer("basis", spatial_basis(self.h, self.w, cfg["basis_u"], cfg["basis_v"]),
                             persistent=False)

    # ---- conversions between the public formats and the internal NCHW ones ----

    def obs_to_nchw(self, obs):
        """B×H×W×C (uint8 pixels scaled by 1/255, binary planes or floats as given) to B×C×H×W in the model's
        dtype."""
        return (obs.to(self.basis.dtype) * self.obs_scale).permute(0, 3, 1, 2)

    def state_from_public(self, vision_h, vision_c, core_h, core_c):
        """(B×h×w×L, B×h×w×L, B×H_p, B×H_p) to the internal tuple (ConvLSTM states as B×L×h×w)."""
        dt = self.basis.dtype
        return (vision_h.to(dt).permute(0, 3, 1, 2), vision_c.to(dt).permute(0, 3, 1, 2),
                core_h.to(dt), core_c.to(dt))

    @staticmethod
    def state_to_public(state):
        vh, vc, ph, pc = state
        return vh.permute(0, 2, 3, 1), vc.permute(0, 2, 3, 1), ph, pc

    def zero_state(self, batch):
        dt = self.basis.dtype
        return (torch.zeros(batch, self.L, self.h, self.w, dtype=dt),
                torch.zeros(batch, self.L, self.h, self.w, dtype=dt),
                torch.zeros(batch, self.Hp, dtype=dt), torch.zeros(batch, self.Hp, dtype=dt))

    # ---- the network ----

    def step(self, obs, prev_reward, prev_action, first, state):
        """One step for B environments.

        obs: B×H×W×C (public layout); prev_reward: B floats; prev_action: B ints in [0, A) or NO_ACTION;
        first: B flags; state: internal tuple. Returns (logits B×A, values B, maps B×N×h×w, new state).
        """
        B = obs.shape[0]
        dt = self.basis.dtype
        # 0. Episode boundary: zero every recurrent state, the reward and the action of a first step.
        keep = (first == 0).to(dt)
        vh, vc, ph, pc = state
        vh = vh * keep[:, None, None, None]
        vc = vc * keep[:, None, None, None]
        ph = ph * keep[:, None]
        pc = pc * keep[:, None]
        reward = prev_reward.to(dt) * keep
        action = prev_action.long()
        if ((action < NO_ACTION) | (action >= self.A)).any():
            raise ValueError("previous action out of range")
        onehot = torch.zeros(B, self.A, dtype=dt)
        valid = (action >= 0) & (first == 0)
        onehot[valid, action[valid]] = 1.0

        # 1-2. Conv stack and ConvLSTM.
        vh, vc = self.vision(self.obs_to_nchw(obs), vh, vc)

        # 3-4. Keys and values from the ConvLSTM output, each with the spatial basis appended.
        P = self.h * self.w
        basis = self.basis.expand(B, -1, -1, -1)
        keys = torch.cat([vh[:, :self.ck], basis], dim=1).reshape(B, self.ck + self.cs, P)
        values = torch.cat([vh[:, self.ck:], basis], dim=1).reshape(B, self.cv + self.cs, P)

        # 5. Queries from the previous policy hidden state.
        queries = self.query(ph).reshape(B, self.N, self.ck + self.cs)

        # 6. One softmax over space per query; answers are map-weighted values.
        logit = torch.bmm(queries, keys)  # B × N × P
        maps = torch.softmax(logit, dim=2)
        answers = torch.bmm(maps, values.transpose(1, 2))  # B × N × (c_v + c_s)

        # 7. Policy core.
        z = self.answer(torch.cat([answers.reshape(B, -1), queries.reshape(B, -1), reward[:, None], onehot],
                                  dim=1))
        ph, pc = self.core(z, ph, pc)

        # 8. Heads.
        logits = self.policy(ph)
        value = self.value(ph)[:, 0]
        return logits, value, maps.reshape(B, self.N, self.h, self.w), (vh, vc, ph, pc)

    def unroll(self, obs, prev_reward, prev_action, first, state):
        """T steps; inputs carry a leading T dimension. The entering state is used as given (a constant for
        truncated BPTT as long as it does not require grad). Returns stacked logits T×B×A, values T×B,
        maps T×B×N×h×w and the final state."""
        logits, values, maps = [], [], []
        for t in range(obs.shape[0]):
            lg, v, m, state = self.step(obs[t], prev_reward[t], prev_action[t], first[t], state)
            logits.append(lg)
            values.append(v)
            maps.append(m)
        return torch.stack(logits), torch.stack(values), torch.stack(maps), state


# ---- self-checks of the reference (python3 reference_model.py) ----

def _tiny_config():
    return {"obs_h": 7, "obs_w": 6, "obs_c": 2, "num_actions": 3, "lstm_channels": 5, "key_channels": 2,
            "basis_u": 2, "basis_v": 3, "num_queries": 2, "core_units": 4, "obs_type": "f32",
            "conv": [[3, 3, 2, 1]], "query_hidden": [6], "answer_hidden": [5]}


def _random_episode(model, T, B, gen):
    cfg = model.cfg
    obs = torch.rand(T, B, cfg["obs_h"], cfg["obs_w"], cfg["obs_c"], generator=gen, dtype=torch.float64)
    reward = torch.randn(T, B, generator=gen, dtype=torch.float64)
    action = torch.randint(-1, cfg["num_actions"], (T, B), generator=gen, dtype=torch.int32)
    first = torch.zeros(T, B, dtype=torch.uint8)
    first[2, 0] = 1
    state = tuple(torch.randn(s.shape, generator=gen, dtype=torch.float64) for s in model.zero_state(B))
    return obs, reward, action, first, state


def selftest():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    model = Agent(_tiny_config()).double()
    with torch.no_grad():
        for p in model.parameters():  # non-zero biases everywhere, so every path is exercised
            p.add_(0.3 * torch.randn(p.shape, generator=gen, dtype=torch.float64))
    T, B = 4, 3
    obs, reward, action, first, state = _random_episode(model, T, B, gen)
    failures = []

    def check(name, ok):
        print("%-60s %s" % (name, "ok" if ok else "FAIL"))
        if not ok:
            failures.append(name)

    # Parameter names are the checkpoint names.
    names = set(model.state_dict().keys())
    expected = {"vision.conv0.weight", "vision.conv0.bias", "vision.convlstm.weight", "vision.convlstm.bias",
                "query.fc0.weight", "query.fc0.bias", "query.fc1.weight", "query.fc1.bias",
                "answer.fc0.weight", "answer.fc0.bias", "answer.fc1.weight", "answer.fc1.bias",
                "core.weight_ih", "core.weight_hh", "core.bias", "policy.weight", "policy.bias",
                "value.weight", "value.bias"}
    check("state_dict keys are the checkpoint names", names == expected)

    basis = spatial_basis(3, 4, 2, 3)
    y, x, u, v = 1, 2, 2, 3
    direct = math.cos(math.pi * u * (y + 1) / 3) * math.cos(math.pi * v * (x + 1) / 4)
    check("spatial basis entry matches the formula", abs(basis[(u - 1) * 3 + (v - 1), y, x] - direct) < 1e-15)

    with torch.no_grad():
        logits, values, maps, final = model.unroll(obs, reward, action, first, state)
    sums = maps.sum(dim=(3, 4))
    check("every map sums to 1", torch.allclose(sums, torch.ones_like(sums), atol=1e-12))
    check("maps are non-negative", bool((maps >= 0).all()))

    # Reset isolation: environment 0 restarts at t=2, so its outputs from t=2 on do not depend on anything
    # before (state, earlier inputs, its own prev reward/action at t=2), and other environments never see it.
    obs2, reward2, action2 = obs.clone(), reward.clone(), action.clone()
    state2 = tuple(s.clone() for s in state)
    obs2[:2, 0] = torch.rand(obs2[:2, 0].shape, generator=gen, dtype=torch.float64)
    reward2[:3, 0] = 7.0
    action2[:3, 0] = 1 - action2[:3, 0].clamp(min=0)
    for s in state2:
        s[0] = 5.0
    with torch.no_grad():
        logits2, values2, maps2, _ = model.unroll(obs2, reward2, action2, first, state2)
    check("a first step forgets everything before it",
          torch.equal(logits[2:, 0], logits2[2:, 0]) and torch.equal(maps[2:, 0], maps2[2:, 0]))
    check("before the reset the changes do matter", not torch.equal(logits[:2, 0], logits2[:2, 0]))
    check("other environments are unaffected",
          torch.equal(logits[:, 1:], logits2[:, 1:]) and torch.equal(values[:, 1:], values2[:, 1:]))

    # The carried-in state matters where no reset happens.
    state3 = tuple(s.clone() for s in state)
    state3[2][1] += 0.5
    with torch.no_grad():
        logits3, _, _, _ = model.unroll(obs, reward, action, first, state3)
    check("the carried-in state of a non-first environment matters", not torch.equal(logits[0, 1], logits3[0, 1]))

    # Autograd against central finite differences of the scalar loss used by the comparison.
    dlogits = torch.randn(logits.shape, generator=gen, dtype=torch.float64)
    dvalues = torch.randn(values.shape, generator=gen, dtype=torch.float64)

    def loss_fn():
        lg, v, _, _ = model.unroll(obs, reward, action, first, state)
        return (dlogits * lg).sum() + (dvalues * v).sum()

    model.zero_grad()
    loss_fn().backward()
    eps = 1e-6
    worst = 0.0
    with torch.no_grad():
        for name, p in model.named_parameters():
            flat = p.view(-1)
            idx = torch.randperm(flat.numel(), generator=gen)[:6]
            for k in idx.tolist():
                orig = flat[k].item()
                flat[k] = orig + eps
                up = loss_fn().item()
                flat[k] = orig - eps
                down = loss_fn().item()
                flat[k] = orig
                fd = (up - down) / (2 * eps)
                g = p.grad.view(-1)[k].item()
                err = abs(fd - g) / max(abs(fd), abs(g), 1e-3)
                worst = max(worst, err)
    check("autograd matches finite differences (worst rel err %.2e)" % worst, worst < 1e-6)
    print("selftest:", "FAILED " + ", ".join(failures) if failures else "passed")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(selftest())
