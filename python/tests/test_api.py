"""Round trips of every bound call: what goes in comes back, and views really are the library's memory."""
import json
import struct

import numpy as np
import pytest

import attnagent
from conftest import binary_obs


def test_version_and_status_names():
    major, minor, patch = map(int, attnagent.version().split("."))
    assert attnagent._lib.lib.attn_version_number() == major * 10000 + minor * 100 + patch
    assert attnagent.status_str(-3).startswith("ATTN_ERR_SIZE")
    assert attnagent.status_str(0).startswith("ATTN_OK")


def test_config_round_trip():
    cfg = attnagent.Config("minatar")
    for key, value in [("obs_h", 12), ("obs_w", 9), ("obs_c", 5), ("num_actions", 4), ("lstm_channels", 24),
                       ("key_channels", 6), ("basis_u", 3), ("basis_v", 2), ("num_queries", 2),
                       ("core_units", 64), ("threads", 1)]:
        cfg[key] = value
        assert cfg[key] == value
    for name, code in (("pixels", 0), ("float", 1), ("binary", 2)):
        cfg.set("obs_type", name)
        assert cfg.get("obs_type") == code
    cfg.set_conv(0, 8, 3, 1, 1)
    assert cfg.get_conv(0) == (8, 3, 1, 1)
    cfg.set("query_layers", 2)
    cfg.set_mlp_hidden("query", 1, 32)
    assert cfg.get_mlp_hidden("query", 1) == 32
    cfg.validate()
    assert (cfg["grid_h"], cfg["grid_w"]) == (12, 9)
    copy = cfg.clone()
    copy["obs_c"] = 7
    assert cfg["obs_c"] == 5 and copy["obs_c"] == 7
    d = cfg.to_dict()
    assert d["conv"] == [(8, 3, 1, 1)] and d["query_hidden"][1] == 32
    model = attnagent.Model(cfg, 1)
    assert model.config.to_dict() == d
    with pytest.raises(attnagent.InvalidError):
        model.config.set("obs_c", 3)  # a model's configuration is read-only


def test_params_are_views_and_tensors_tile_them(minatar_model, tmp_path):
    m = minatar_model
    params, tensors = m.params, m.tensors()
    assert params.dtype == np.float32 and params.size == m.param_count
    assert sum(t.size for t in tensors) == m.param_count
    assert [t.offset for t in tensors] == list(np.cumsum([0] + [t.size for t in tensors[:-1]]))
    name = tensors[3].name
    assert m.find_tensor(name) == 3
    w = m.tensor(name)
    assert w.shape == tensors[3].shape and np.shares_memory(w, m.params)
    w[...] = 0.25                       # written through the view ...
    m.save(tmp_path / "a.safetensors")
    back = attnagent.Model.load(tmp_path / "a.safetensors")
    assert np.all(back.tensor(name) == 0.25)      # ... it is what the library saved
    assert np.array_equal(back.params, m.params)
    sd = m.state_dict()
    assert list(sd) == [t.name for t in tensors] and np.shares_memory(sd[name], params)
    g = m.grads
    assert g.shape == params.shape and not np.shares_memory(g, params)


def test_checkpoint_is_the_documented_safetensors(minatar_model, tmp_path):
    """The file opens with json + struct as docs/checkpoint.md says, holding the params Python sees."""
    path = tmp_path / "m.safetensors"
    minatar_model.save(path)
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__")
    assert meta["format"] == "attnagent" and json.loads(meta["config"])["obs_c"] == 4
    data = memoryview(raw)[8 + n:]
    for t in minatar_model.tensors():
        e = header[t.name]
        arr = np.frombuffer(data[e["data_offsets"][0]:e["data_offsets"][1]], "<f4").reshape(e["shape"])
        assert np.array_equal(arr, minatar_model.tensor(t.name))


def test_load_params_into_a_model_of_the_same_configuration(minatar_model, tmp_path):
    minatar_model.save(tmp_path / "a.safetensors")
    other = attnagent.Model(minatar_model.config.clone(), seed=99)
    assert not np.array_equal(other.params, minatar_model.params)
    other.load_params(tmp_path / "a.safetensors")
    assert np.array_equal(other.params, minatar_model.params)


def test_state_parts_round_trip(minatar_model):
    s = attnagent.State(minatar_model, batch=3, max_unroll=2)
    assert (s.batch, s.max_unroll, s.recorded) == (3, 2, 0)
    minatar_model.forward(s, binary_obs(3), first=np.ones(3, bool), record=True)
    assert s.recorded == 1
    parts = {p: s.get(p) for p in ("vision_h", "vision_c", "core_h", "core_c")}
    assert parts["core_h"].size == 3 * minatar_model.config["core_units"]
    s.clear_tape()
    assert s.recorded == 0
    s.reset()
    assert not s.get("core_h").any()
    for p, v in parts.items():
        s.set(p, v)
        assert np.array_equal(s.get(p), v)


def test_forward_maps_and_pixels(minatar_model):
    m, B = minatar_model, 2
    s = attnagent.State(m, B)
    obs = binary_obs(B)
    logits, values = np.empty((B, 3), np.float32), np.empty(B, np.float32)
    out_l, out_v = m.forward(s, obs, prev_reward=[0.5, -1], prev_action=[2, attnagent._lib.NO_ACTION],
                             first=[True, False], logits=logits, values=values)
    assert out_l is logits and out_v is values          # written in place, no new arrays
    # bool planes are the same bytes: same step, same outputs
    s2 = attnagent.State(m, B)
    l2, v2 = m.forward(s2, obs.astype(bool), prev_reward=[0.5, -1], prev_action=[2, -1], first=[1, 0])
    assert np.array_equal(l2, logits) and np.array_equal(v2, values)
    maps = s.maps()
    assert maps.shape == (B, m.num_queries) + m.grid_shape
    assert np.allclose(maps.sum(axis=(2, 3)), 1, atol=1e-5) and (maps >= 0).all()
    buf = np.empty_like(maps)
    assert s.maps(out=buf) is buf and np.array_equal(buf, maps)
    pix = m.map_to_pixels(maps[0])
    assert pix.shape == (m.num_queries, 10, 10) and np.allclose(pix.sum(axis=(1, 2)), 1, atol=1e-5)
    single = m.map_to_pixels(maps[0, 1])
    assert np.array_equal(single, pix[1])


def test_backward_optimizer_and_slots(minatar_model):
    m, B, T = minatar_model, 2, 3
    s = attnagent.State(m, B, T)
    for t in range(T):
        m.forward(s, binary_obs(B, seed=t), first=[t == 0] * B, record=True)
    m.zero_grad()
    assert not m.grads.any()
    dlogits = np.random.default_rng(0).normal(size=(T, B, 3)).astype(np.float32)
    m.backward(s, dlogits, np.ones((T, B), np.float32))
    assert s.recorded == 0 and np.abs(m.grads).sum() > 0
    opt = attnagent.Optimizer(m, "adam", lr=1e-3)
    assert opt.kind == "adam" and opt["lr"] == pytest.approx(1e-3)
    opt["max_grad_norm"] = 0.5
    assert opt.get("max_grad_norm") == 0.5
    before = m.params.copy()
    norm = opt.step(m)
    assert norm > 0 and opt.steps == 1 and not np.array_equal(before, m.params)
    slots = opt.slots()
    assert set(slots) == {"m", "v"} and slots["v"].shape == m.params.shape and slots["v"].any()
    slots["m"][...] = 0                 # the slots are the optimizer's memory
    assert not opt.slots()["m"].any()
    opt.steps = 10
    assert opt.steps == 10 and opt.current_lr == pytest.approx(1e-3)
    assert attnagent.Optimizer(m, "rmsprop").kind == "rmsprop"


def test_loss_config_fields():
    lc = attnagent.LossConfig("ppo", entropy_cost=0.02)
    assert lc.kind == "ppo" and lc.ppo_epochs == 4 and lc.entropy_cost == pytest.approx(0.02)
    lc.discount = 0.9
    assert lc.to_dict()["discount"] == pytest.approx(0.9)
    with pytest.raises(AttributeError):
        lc.no_such_field = 1


class Walker(attnagent.Env):
    """A Python callback environment: a dot walks right one cell per step on a 10 × 10 binary plane, the
    episode ends (terminated) at the right edge with reward 1; its position is its state (save/load)."""

    def __init__(self, count):
        self.x = [0] * count
        self.y = [0] * count
        self.resets = 0

    def _draw(self, i, obs):
        obs[...] = 0
        obs[self.y[i], self.x[i], 0] = 1

    def reset(self, index, seed, obs):
        self.resets += 1
        self.x[index], self.y[index] = 0, int(seed % 10)
        self._draw(index, obs)

    def step(self, index, action, obs):
        self.x[index] += 1
        done = self.x[index] == 9
        self._draw(index, obs)
        return (1.0 if done else 0.0), done, False

    def save(self, index):
        return bytes([self.x[index], self.y[index]])

    def load(self, index, data):
        self.x[index], self.y[index] = data[0], data[1]


def _walker_model(seed=3):
    return attnagent.Model(attnagent.Config("minatar", obs_c=1, num_actions=2, obs_type="binary", threads=1), seed)


def test_rollout_and_learner_with_a_python_env():
    m, B, T = _walker_model(), 2, 6
    env = Walker(B)
    ro = attnagent.Rollout(m, B, T, seed=5)
    ro.collect(m, env)
    assert ro.frames == B * T and env.resets == B
    ro.collect(m, env)
    returns, lengths = ro.finished()
    assert ro.episodes == 2 and list(returns) == [1.0, 1.0] and list(lengths) == [9, 9]
    v = ro.view()
    assert v.obs.shape == (T + 1, B, 10, 10, 1) and v.actions.shape == (T, B)
    assert not v.obs.flags.writeable
    assert v.terminated[2].all() and not v.truncated.any()   # step 9 of each episode is t = 2 of unroll 2
    assert v.obs[:T].sum() == T * B       # one dot per stored observation, as the environment drew them
    learner = attnagent.Learner(m, attnagent.LossConfig("a2c"), B, T)
    opt = attnagent.Optimizer(m, "sgd", lr=1e-2)
    stats = learner.update(opt, ro)
    assert stats.skipped == 0 and np.isfinite(stats.total) and learner.skipped == 0 and opt.steps == 1
    binding = attnagent.EnvBinding(env, m)   # a binding made once may be reused
    ro.collect(m, binding)


def test_rollout_on_the_c_games():
    m = attnagent.Model(attnagent.Config("minatar", obs_c=4, num_actions=6, obs_type="binary", threads=1), 1)
    envs = attnagent.minatar("breakout").envs(3)
    assert envs.obs_shape == (10, 10, 4) and envs.num_actions == 6 and envs.obs_type == "binary"
    ro = attnagent.Rollout(m, 3, 4, seed=2)
    ro.collect(m, envs, greedy=True)
    v = ro.view()
    assert set(np.unique(v.obs[:4])) <= {0, 1} and v.obs[:4].sum() > 0


def test_the_view_holds_the_observation_after_the_unroll():
    """training.h: the view's obs are (T+1)·B, the last row the observation the bootstrap value was computed
    from (the one the next unroll starts with)."""
    m, B, T = _walker_model(), 2, 4
    env = Walker(B)
    ro = attnagent.Rollout(m, B, T, seed=5)
    ro.collect(m, env)
    last = ro.view().obs[T].copy()
    for b in range(B):
        expected = np.zeros((10, 10, 1), np.uint8)
        expected[env.y[b], env.x[b], 0] = 1
        assert np.array_equal(last[b], expected)
    ro.collect(m, env)
    assert np.array_equal(ro.view().obs[0], last)


def test_training_checkpoint_resumes_exactly_through_python_callbacks(tmp_path):
    """Three updates, save, everything recreated, load, three more == six updates uninterrupted: the Python
    environment's own save/load travel in the file."""
    B, T = 2, 4

    def build():
        m = _walker_model(seed=11)
        return m, attnagent.Optimizer(m, "adam"), attnagent.Rollout(m, B, T, seed=9), Walker(B)

    def updates(m, opt, ro, env, n):
        learner = attnagent.Learner(m, attnagent.LossConfig("ppo", ppo_minibatches=2), B, T)
        out = []
        for _ in range(n):
            ro.collect(m, env)
            out.append(learner.update(opt, ro).to_dict())
        return out

    m, opt, ro, env = build()
    straight = updates(m, opt, ro, env, 6)
    final = m.params.copy()

    m, opt, ro, env = build()
    first = updates(m, opt, ro, env, 3)
    attnagent.training_save(tmp_path / "t.safetensors", m, opt, ro, env, {"note": "hello"})
    saved = m.params.copy()
    m, opt, ro, env = build()
    attnagent.training_load(tmp_path / "t.safetensors", m, opt, ro, env)
    assert attnagent.training_meta("note") == "hello" and attnagent.training_meta("absent") is None
    assert opt.steps == 3 * 2 * 4   # PPO: epochs × minibatches steps per update
    rest = updates(m, opt, ro, env, 3)
    assert first + rest == straight and np.array_equal(m.params, final)
    # a training checkpoint is also a model file
    assert np.array_equal(attnagent.Model.load(tmp_path / "t.safetensors").params, saved)


def test_games_and_learner_health():
    assert attnagent.games() == ["asterix", "breakout", "freeway", "seaquest", "space_invaders"]
    game = attnagent.minatar("breakout")
    assert game.channels == 4 and game.num_actions == 6 and game.channel_names[0] == "paddle"
    assert game.observation_space.shape == (10, 10, 4) and game.obs_type == "binary"
    m = _walker_model()
    learner = attnagent.Learner(m, "a2c", 2, 3)
    ro = attnagent.Rollout(m, 2, 3)
    ro.collect(m, Walker(2))
    learner.update(attnagent.Optimizer(m, "adam"), ro)
    health = learner.health()
    if health is not None:                        # libraries from 0.2 on
        assert health["updates"] == 1 and 0 < health["entropy_ratio"] <= 1.0001


def test_cpu_kernels_names_the_dispatch_and_obeys_the_cap():
    assert attnagent.cpu_kernels() in ("avx512", "avx2+fma", "avx2", "portable")
    # The cap is read once per process, so a fresh interpreter shows it.
    import subprocess
    import sys
    env = dict(__import__("os").environ, ATTN_ISA="portable")
    out = subprocess.run([sys.executable, "-c", "import attnagent; print(attnagent.cpu_kernels())"], env=env,
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "portable"


def test_conv_plan_reports_sets_replays_and_refuses(minatar_model):
    B = 4
    s = attnagent.State(minatar_model, batch=B)
    rule = s.conv_plan
    # one method per convolution of the preset (its conv stack and the ConvLSTM's gates)
    layers = rule.split(",")
    assert len(layers) == 2 and set(layers) <= {"unfold", "unfold-by-pixel", "direct", "winograd"}, rule
    obs = binary_obs(B, seed=3)
    want, _ = minatar_model.forward(s, obs, first=np.ones(B, bool))
    s.conv_plan = "measure"
    measured = s.conv_plan
    assert len(measured.split(",")) == 2
    with pytest.raises(attnagent.InvalidError):
        s.conv_plan = "direct"          # a list of the wrong length
    with pytest.raises(attnagent.InvalidError):
        s.conv_plan = "fastest"
    assert s.conv_plan == measured      # unchanged by the refusals
    # Every method computes the same convolution (to rounding), and the reported list replays the run.
    s.reset()
    got, _ = minatar_model.forward(s, obs, first=np.ones(B, bool))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    s2 = attnagent.State(minatar_model, batch=B)
    s2.conv_plan = measured
    again, _ = minatar_model.forward(s2, obs, first=np.ones(B, bool))
    assert np.array_equal(again, got)
