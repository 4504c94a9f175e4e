"""The three presets of ../shared/spec/architecture.md as attn-bench runs them, and the analytic FLOP count
per frame of both programs' work. One place for both, so the comparison divides the same numbers."""

PRESETS = {
    # obs (H, W, C), actions, conv stack [(out, k, stride, pad)], L, c_k, U×V, N, MLP_q hidden, MLP_a hidden, H_p
    "minatar": dict(H=10, W=10, C=4, A=6, conv=[(16, 3, 1, 1)], L=32, ck=8, U=4, V=4, N=4, q_hidden=128,
                    a_hidden=256, Hp=128),
    "atari84": dict(H=84, W=84, C=3, A=18, conv=[(32, 8, 4, 1), (64, 4, 2, 2)], L=128, ck=8, U=8, V=8, N=4,
                    q_hidden=128, a_hidden=512, Hp=256),
    "atari": dict(H=210, W=160, C=3, A=18, conv=[(32, 8, 4, 1), (64, 4, 2, 2)], L=128, ck=8, U=8, V=8, N=4,
                  q_hidden=128, a_hidden=512, Hp=256),
}
# attn-bench sets minatar's channels to 4 (the spec leaves 4–10 per game); the others are the spec's.


def derived(p):
    """Grid, widths and per-layer shapes implied by a preset."""
    h, w, c = p["H"], p["W"], p["C"]
    layers = []
    for out, k, s, pad in p["conv"]:
        oh, ow = (h + 2 * pad - k) // s + 1, (w + 2 * pad - k) // s + 1
        layers.append(dict(rows=oh * ow, cout=out, K=c * k * k))
        h, w, c = oh, ow, out
    L, ck, cs = p["L"], p["ck"], p["U"] * p["V"]
    return dict(layers=layers, gh=h, gw=w, P=h * w, F=c, cs=cs, kd=ck + cs, vd=L - ck + cs,
                a_in=p["N"] * (ck + cs) + p["N"] * (L - ck + cs) + 1 + p["A"])


def flops_per_frame(name):
    """(forward, training) floating-point operations per frame, multiply-adds counted as 2.

    Every matrix product of the step counted as 2·M·N·K (convolutions as their im2col GEMMs). Training is the
    forward plus the backward: each product's gradients with respect to both operands (2× its forward), except
    the first convolution, whose input (the observation) needs no gradient. Element-wise work (activations,
    softmax, LSTM cells) is left out: it is a fraction of a percent at these sizes."""
    p = PRESETS[name]
    d = derived(p)
    P, L, N, Hp = d["P"], p["L"], p["N"], p["Hp"]
    gemms = []  # (M·N·K per frame, needs an input gradient)
    for i, l in enumerate(d["layers"]):
        gemms.append((l["rows"] * l["cout"] * l["K"], i > 0))
    gemms.append((P * 4 * L * (d["F"] + L) * 9, True))                       # ConvLSTM gates, one conv over [f, h]
    gemms.append((N * P * d["kd"], True))                                    # attention logits
    gemms.append((N * P * d["vd"], True))                                    # answers
    gemms.append((Hp * p["q_hidden"] + p["q_hidden"] * N * d["kd"], True))   # MLP_q
    gemms.append((d["a_in"] * p["a_hidden"] + p["a_hidden"] * Hp, True))     # MLP_a
    gemms.append((2 * Hp * 4 * Hp, True))                                    # policy LSTM, input and recurrent
    gemms.append((Hp * (p["A"] + 1), True))                                  # heads
    fwd = sum(2 * mnk for mnk, _ in gemms)
    bwd = sum(2 * mnk * (2 if grad_in else 1) for mnk, grad_in in gemms)
    return fwd, fwd + bwd


if __name__ == "__main__":
    for n in PRESETS:
        f, t = flops_per_frame(n)
        print("%-8s forward %.4g GFLOP/frame, training %.4g GFLOP/frame" % (n, f / 1e9, t / 1e9))
