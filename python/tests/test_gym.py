"""Gymnasium environments as hosts: the observation contract, episode ends, vector environments, training."""
import gymnasium
import numpy as np
import pytest
from gymnasium import spaces

import attnagent
from attnagent.gymenv import observation_contract
from conftest import Catch, metrics


def test_observation_spaces_map_onto_the_contract():
    box = spaces.Box
    assert observation_contract(box(0, 255, (84, 84, 3), np.uint8))[:2] == ("pixels", (84, 84, 3))
    assert observation_contract(box(0, 255, (84, 84), np.uint8))[:2] == ("pixels", (84, 84, 1))
    assert observation_contract(box(0, 1, (10, 10, 4), np.uint8))[0] == "binary"
    assert observation_contract(box(0, 1, (10, 10, 4), np.bool_))[0] == "binary"
    assert observation_contract(spaces.MultiBinary([6, 5, 2]))[:2] == ("binary", (6, 5, 2))
    assert observation_contract(box(-1.0, 1.0, (8, 8, 2), np.float32))[0] == "float"
    assert observation_contract(box(0.0, 1.0, (8, 8, 2), np.float64))[0] == "float"
    assert observation_contract(box(0, 255, (4, 84, 84), np.uint8), channels_first=True)[1] == (84, 84, 4)
    with pytest.raises(attnagent.InvalidError, match="neither pixels"):
        observation_contract(box(0, 15, (8, 8, 1), np.uint8))          # not guessed ...
    assert observation_contract(box(0, 15, (8, 8, 1), np.uint8), obs_type="pixels")[0] == "pixels"  # ... said
    with pytest.raises(attnagent.InvalidError, match="image"):
        observation_contract(box(-1, 1, (4,), np.float32))
    with pytest.raises(attnagent.InvalidError, match="image"):
        observation_contract(spaces.Discrete(3))


def test_a_gymnasium_env_trains_for_a_few_updates(catch_id, tmp_path):
    out = tmp_path / "catch"
    result = attnagent.train(catch_id, frames=240, out=str(out), envs=4, unroll=10, progress=False, seed=3)
    assert result.frames == 240 and result.updates == 6 * 16 and result.episodes >= 4 * 3
    rows = metrics(out / "metrics.jsonl")
    assert len(rows) == 6 and rows[-1]["frames"] == 240 and rows[-1]["skipped"] == 0
    agent = attnagent.Agent.load(out)
    assert agent.model.obs_type == "pixels" and agent.model.obs_shape == (8, 8, 2)
    obs, _ = Catch().reset(seed=1)
    action, info = agent.act(obs)
    assert 0 <= action < 3 and info["maps"].shape == (4, 8, 8)
    # and it resumes where it stopped
    more = attnagent.train(catch_id, frames=320, out=str(out), envs=4, unroll=10, progress=False, seed=3,
                           resume=True)
    assert more.frames == 320 and len(metrics(out / "metrics.jsonl")) == 8


@pytest.mark.parametrize("kind", ["bool", "float"])
def test_binary_and_float_observations(kind, tmp_path):
    result = attnagent.train([Catch(kind) for _ in range(2)], frames=40, out=str(tmp_path), unroll=10,
                             algo="a2c", progress=False)
    assert attnagent.Model.load(result.checkpoint).obs_type == ("binary" if kind == "bool" else "float")


def test_a_sync_vector_env_is_stepped_one_environment_at_a_time(tmp_path):
    vec = gymnasium.vector.SyncVectorEnv([lambda: Catch() for _ in range(4)])
    result = attnagent.train(vec, frames=80, out=str(tmp_path / "v"), unroll=10, progress=False, seed=3)
    assert result.frames == 80
    # the same environments as a list train identically: the vector env's own autoreset plays no part
    listed = attnagent.train([Catch() for _ in range(4)], frames=80, out=str(tmp_path / "l"), unroll=10,
                             progress=False, seed=3)
    assert metrics(tmp_path / "v" / "metrics.jsonl") == metrics(tmp_path / "l" / "metrics.jsonl")
    assert listed.episodes == result.episodes


def test_an_async_vector_env_is_refused_with_the_reason():
    vec = gymnasium.vector.AsyncVectorEnv([lambda: Catch() for _ in range(2)])
    try:
        with pytest.raises(attnagent.InvalidError, match="one environment at a time"):
            attnagent.train(vec, frames=10, progress=False)
    finally:
        vec.close()


def test_gymnasium_steps_equal_the_c_games_steps(tmp_path):
    """Terminated and truncated mean exactly what the C interface says: the built-in game stepped as a
    Gymnasium env from Python (episodes cut at 7 steps, so truncation and its bootstrap happen) trains
    bit for bit as the C environment attn-train uses."""
    c = attnagent.train(attnagent.minatar("breakout", max_episode_steps=7), frames=240, out=str(tmp_path / "c"),
                        envs=4, unroll=6, threads=1, progress=False)
    py = attnagent.train([attnagent.minatar("breakout", max_episode_steps=7) for _ in range(4)], frames=240,
                         out=str(tmp_path / "py"), unroll=6, threads=1, progress=False)
    assert metrics(tmp_path / "c" / "metrics.jsonl") == metrics(tmp_path / "py" / "metrics.jsonl")
    assert c.episodes == py.episodes >= 4 * (60 // 7)


def test_truncation_is_bootstrapped_from_the_final_observation():
    """A TimeLimit cut reaches the library as truncated (not terminated), with the final observation written,
    whose value the rollout records for the bootstrap."""
    env = attnagent.gymenv.GymEnvs([gymnasium.wrappers.TimeLimit(Catch(size=8), 3) for _ in range(2)])
    m = attnagent.Model(attnagent.config_for(env.obs_shape, env.num_actions, env.obs_type, threads=1))
    ro = attnagent.Rollout(m, 2, 8)
    ro.collect(m, env)
    v = ro.view()
    assert v.truncated[2].all() and not v.terminated.any() and v.truncated.sum() == 2 * 2
    assert np.all(v.truncation_values[2] != 0) and np.all(v.truncation_values[v.truncated == 0] == 0)
    assert v.obs[3].max() == 255 and v.obs[3, :, 0, :, 0].any()     # t = 3 is a new episode's first frame


def test_spaces_that_cannot_be_trained_on(tmp_path):
    class Continuous(Catch):
        def __init__(self):
            super().__init__()
            self.action_space = spaces.Box(-1, 1, (1,), np.float32)

    with pytest.raises(attnagent.InvalidError, match="discrete"):
        attnagent.train([Continuous()], frames=10, progress=False)
    with pytest.raises(attnagent.InvalidError, match="built-in games"):
        attnagent.train([Catch()], frames=10, sticky=0.2, progress=False)


def test_on_update_stops_a_run_and_ctrl_c_saves_first(catch_id, tmp_path):
    seen = []
    result = attnagent.train(catch_id, frames=10_000, out=str(tmp_path / "a"), envs=4, unroll=5, algo="a2c",
                             progress=False, on_update=lambda m: seen.append(m) or len(seen) < 3)
    assert len(seen) == 3 and result.frames == 60 and seen[-1]["frames"] == 60
    assert attnagent.Model.load(result.checkpoint)

    def interrupt(m):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        attnagent.train(catch_id, frames=10_000, out=str(tmp_path / "b"), envs=4, unroll=5, algo="a2c",
                        progress=False, on_update=interrupt)
    assert metrics(tmp_path / "b" / "metrics.jsonl")[-1]["frames"] == 20
    attnagent.train(catch_id, frames=40, out=str(tmp_path / "b"), envs=4, unroll=5, algo="a2c", progress=False,
                    resume=True)                     # the checkpoint Ctrl-C saved
    assert [r["frames"] for r in metrics(tmp_path / "b" / "metrics.jsonl")] == [20, 40]
