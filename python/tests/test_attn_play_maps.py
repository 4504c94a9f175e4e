"""Python's maps are attn-play's: for the same checkpoint, game seed and step, the panel Agent.show draws
equals, pixel for pixel, the PNG attn-play writes (below its title strip)."""
import numpy as np

import attnagent
from conftest import run
from pngread import read_png

MAX_STEPS = 12


def test_maps_equal_what_attn_play_draws(attn_play, tmp_path):
    trained = attnagent.train(attnagent.minatar("breakout"), frames=120, out=str(tmp_path / "run"), envs=4,
                              unroll=6, threads=1, progress=False)
    # a model file written from Python, read by attn-play
    ckpt = tmp_path / "agent.safetensors"
    attnagent.Model.load(trained.checkpoint).save(ckpt)
    run(attn_play, "--checkpoint", ckpt, "--env", "minatar:breakout", "--episodes", 1, "--max-steps", MAX_STEPS,
        "--seed", 1, "--gif-steps", 0, "--png-steps", ",".join(map(str, range(MAX_STEPS))), "--png-dir", tmp_path)

    agent = attnagent.Agent.load(ckpt)
    env = attnagent.minatar("breakout", seed=1)        # attn-play's game: seed 1, the game's default options
    obs, _ = env.reset()
    reward, played = 0.0, 0
    for step in range(MAX_STEPS):
        action, info = agent.act(obs, reward)
        mine = agent.show(obs, info)
        png = read_png(tmp_path / f"step_{step:04d}.png")
        strip = png.shape[0] - mine.shape[0]
        assert png.shape[1] == mine.shape[1] and strip == 23
        assert np.array_equal(png[strip:], mine), f"step {step} differs"
        assert not np.array_equal(mine[:, 240 + 8:2 * 240 + 8], mine[:, :240])   # a map was drawn over it
        played += 1
        obs, reward, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            break
    # the same episode: attn-play drew exactly the steps played here
    assert sorted(p.name for p in tmp_path.glob("step_*.png")) == [f"step_{s:04d}.png" for s in range(played)]
    assert played >= 3
