"""Python and the C programs share runs: the same training, checkpoints either way, resumes across them."""
import numpy as np

import attnagent
from conftest import metrics, run

# A constant learning rate: by default it decays to 0 over --frames, so a 240-frame run resumed to 480 frames
# would follow another schedule than a straight 480-frame run, and the two could not be compared bit for bit.
SMALL = dict(envs=4, unroll=6, threads=1, no_lr_decay=True)


def _args(frames, out, *extra):
    return ["--frames", frames, "--out", out, "--envs", 4, "--unroll", 6, "--threads", 1, "--no-lr-decay", *extra]


def test_runs_are_shared_with_attn_train(attn_train, tmp_path):
    # attn-train and train() with the same options: the same run, update for update
    run(attn_train, *_args(240, tmp_path / "c"))
    attnagent.train(attnagent.minatar("breakout"), frames=240, out=str(tmp_path / "py"), progress=False, **SMALL)
    assert metrics(tmp_path / "c" / "metrics.jsonl") == metrics(tmp_path / "py" / "metrics.jsonl")
    c = attnagent.Model.load(tmp_path / "c" / "checkpoint.safetensors")
    py = attnagent.Model.load(tmp_path / "py" / "checkpoint.safetensors")
    assert np.array_equal(c.params, py.params) and c.obs_type == "binary"

    # a run started in Python continues in attn-train, one started in attn-train continues in Python, and both
    # end where an uninterrupted run ends (the games' own states travel in the checkpoint)
    run(attn_train, *_args(480, tmp_path / "straight"))
    run(attn_train, *_args(480, tmp_path / "py", "--resume"))
    attnagent.train(attnagent.minatar("breakout"), frames=480, out=str(tmp_path / "c"), progress=False,
                    resume=True, **SMALL)
    straight = metrics(tmp_path / "straight" / "metrics.jsonl")
    assert metrics(tmp_path / "py" / "metrics.jsonl") == straight
    assert metrics(tmp_path / "c" / "metrics.jsonl") == straight
    final = attnagent.Model.load(tmp_path / "straight" / "checkpoint.safetensors").params
    for d in ("py", "c"):
        assert np.array_equal(attnagent.Model.load(tmp_path / d / "checkpoint.safetensors").params, final)

    # the checkpoint attn-train wrote plays in Python
    agent = attnagent.Agent.load(tmp_path / "straight")
    obs, _ = attnagent.minatar("breakout").reset(seed=3)
    action, info = agent.act(obs)
    assert 0 <= action < 6 and abs(info["probs"].sum() - 1) < 1e-6 and info["maps"].shape == (4, 10, 10)


def test_resume_from_an_older_checkpoint_drops_the_later_log_lines(tmp_path):
    # as attn-train does (tests/train_resume.sh): after a kill between checkpoints the log runs past the checkpoint
    out = tmp_path / "r"
    attnagent.train(attnagent.minatar("breakout"), frames=240, out=str(out), progress=False, **SMALL)
    older = (out / "checkpoint.safetensors").read_bytes()
    attnagent.train(attnagent.minatar("breakout"), frames=480, out=str(out), progress=False, resume=True, **SMALL)
    (out / "checkpoint.safetensors").write_bytes(older)
    attnagent.train(attnagent.minatar("breakout"), frames=480, out=str(out), progress=False, resume=True, **SMALL)
    frames = [m["frames"] for m in metrics(out / "metrics.jsonl")]
    assert frames == sorted(set(frames)) and frames[-1] >= 480
