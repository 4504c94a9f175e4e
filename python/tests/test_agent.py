"""Playing and looking: Agent.act, the pictures, and the example of docs/python.md."""
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import attnagent
from conftest import REPO
from pngread import read_png


@pytest.fixture(scope="module")
def agent(tmp_path_factory):
    m = attnagent.Model(attnagent.Config("minatar", obs_c=4, num_actions=6, obs_type="binary", threads=1), 5)
    path = tmp_path_factory.mktemp("agent") / "m.safetensors"
    m.save(path)
    return attnagent.Agent.load(path.parent / "m.safetensors", threads=1)


def test_act_returns_the_action_value_probabilities_and_maps(agent):
    env = attnagent.minatar("breakout", seed=2)
    obs, _ = env.reset()
    action, info = agent.act(obs)
    assert set(info) == {"value", "probs", "logits", "maps"}
    assert action == int(np.argmax(info["logits"])) and isinstance(info["value"], float)
    assert info["probs"].shape == (6,) and abs(info["probs"].sum() - 1) < 1e-12
    assert info["maps"].shape == (4, 10, 10) and np.allclose(info["maps"].sum(axis=(1, 2)), 1, atol=1e-5)
    # the same step through the low-level calls gives the same numbers
    s = attnagent.State(agent.model, 1)
    logits, values = agent.model.forward(s, obs[None], first=[1])
    assert np.array_equal(logits[0], info["logits"]) and values[0] == info["value"]
    assert np.array_equal(s.maps()[0], info["maps"])
    # the next act continues the episode with the previous action and the reward passed in
    obs2, reward, *_ = env.step(action)
    _, info2 = agent.act(obs2, reward)
    logits, _ = agent.model.forward(s, obs2[None], prev_reward=[reward], prev_action=[action], first=[0])
    assert np.array_equal(logits[0], info2["logits"])
    agent.reset()
    _, again = agent.act(obs)                        # a new episode: the memory is zeroed
    assert np.array_equal(again["logits"], info["logits"])
    sampled = {agent.act(obs, sample=True, first=True)[0] for _ in range(40)}
    assert len(sampled) > 1                          # near-uniform policy: sampling visits several actions


def test_pictures(agent, tmp_path):
    obs, _ = attnagent.minatar("breakout", seed=2).reset()
    _, info = agent.act(obs, first=True)
    frame = agent.draw(obs)
    assert frame.shape == (240, 240, 3) and frame.dtype == np.uint8
    pix = agent.pixel_maps(info["maps"])
    assert pix.shape == (4, 10, 10)
    pic = agent.show(obs, info)
    assert pic.shape == (240, 5 * 240 + 4 * 8, 3)
    assert np.array_equal(pic[:, :240], frame) and not pic[:, 240:248].any()     # the frame, then a black gap
    assert np.array_equal(pic[:, 248:488], attnagent.overlay(frame, pix[0]))   # the first query's overlay
    rgb = attnagent.render_rgb(np.full((10, 10, 3), 100, np.uint8), 3)
    assert attnagent.overlay(rgb, pix[1]).shape == (30, 30, 3)
    with pytest.raises(ValueError, match="enlargement"):
        attnagent.overlay(np.zeros((25, 25, 3), np.uint8), pix[0])
    attnagent.save_png(tmp_path / "p.png", pic)
    assert np.array_equal(read_png(tmp_path / "p.png"), pic)


def test_the_example_in_docs_python_md_runs(tmp_path):
    """The ten lines of docs/python.md, with fewer frames, in a fresh interpreter."""
    doc = open(os.path.join(REPO, "docs", "python.md")).read()
    code = re.search(r"<!-- example -->\s*```python\n(.*?)```", doc, re.S).group(1)
    assert len([line for line in code.splitlines() if line.strip()]) <= 10
    assert "frames=100_000" in code
    code = code.replace("frames=100_000", "frames=100, envs=4, unroll=5")
    p = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                       env={**os.environ, "ATTN_NUM_THREADS": "1"})
    assert p.returncode == 0, p.stdout + p.stderr
    assert read_png(tmp_path / "runs" / "py_breakout" / "py_attention.png").shape[1] == 5 * 240 + 4 * 8
