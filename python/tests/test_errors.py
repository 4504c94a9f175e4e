"""Every C status becomes its exception with the library's message; bad input is refused, never guessed."""
import gc

import numpy as np
import pytest

import attnagent
from attnagent import errors
from conftest import binary_obs


def test_every_status_has_its_class():
    expected = {-1: (attnagent.NullError, ValueError), -2: (attnagent.InvalidError, ValueError),
                -3: (attnagent.SizeError, ValueError), -4: (attnagent.NonFiniteError, ValueError),
                -5: (attnagent.OutOfMemoryError, MemoryError), -6: (attnagent.StateError, RuntimeError),
                -7: (attnagent.FileIOError, OSError), -8: (attnagent.FormatError, ValueError),
                -9: (attnagent.CallbackError, RuntimeError), -10: (attnagent.AbortedError, RuntimeError)}
    for status, (cls, builtin) in expected.items():
        e = errors.from_status(status, "detail", attnagent.status_str(status), "f")
        assert type(e) is cls and isinstance(e, attnagent.Error) and isinstance(e, builtin)
        assert e.status == status and "detail" in str(e)
        assert attnagent.status_str(status).split(":")[0] in str(e)
    assert type(errors.from_status(-99, "newer")) is attnagent.Error


def test_library_messages_reach_python(minatar_model):
    s = attnagent.State(minatar_model, 2)
    with pytest.raises(attnagent.NonFiniteError) as e:
        minatar_model.forward(s, binary_obs(2), prev_reward=[np.nan, 0])
    assert e.value.function == "attn_forward" and e.value.message == attnagent.last_error()
    assert "reward" in e.value.message
    with pytest.raises(attnagent.InvalidError) as e:
        minatar_model.forward(s, binary_obs(2), prev_action=[0, 3])      # 3 actions: 0..2
    assert "action" in e.value.message
    with pytest.raises(attnagent.InvalidError, match="ATTN_OBS_U8_BINARY"):
        minatar_model.forward(s, binary_obs(2) * 255)                     # planes drawn as 0/255
    with pytest.raises(attnagent.StateError):
        s.maps()                                                          # no step yet: nothing failed changed it
    with pytest.raises(attnagent.InvalidError):
        attnagent.Config("minatar").set("obs_c", 0)
    with pytest.raises(attnagent.InvalidError):
        attnagent.Config("minatar").set("grid_h", 3)                      # read-only key
    with pytest.raises(attnagent.InvalidError):
        attnagent.Config("no such preset")
    with pytest.raises(attnagent.SizeError):
        attnagent.State(minatar_model, 0)


def test_wrong_dtype_and_shape_are_refused(minatar_model):
    s = attnagent.State(minatar_model, 2)
    with pytest.raises(attnagent.InvalidError, match="uint8"):
        minatar_model.forward(s, binary_obs(2).astype(np.float32))
    with pytest.raises(attnagent.InvalidError):
        minatar_model.forward(s, binary_obs(2).astype(np.int8))           # same bytes, other dtype: refused
    with pytest.raises(attnagent.SizeError):
        minatar_model.forward(s, binary_obs(3))                           # batch 3 for a state of 2
    with pytest.raises(attnagent.SizeError):
        minatar_model.forward(s, binary_obs(2).transpose(0, 2, 1, 3)[:, :, :, :2])
    with pytest.raises(attnagent.SizeError):
        minatar_model.forward(s, binary_obs(2), prev_reward=[0.0])
    with pytest.raises(attnagent.InvalidError):
        minatar_model.forward(s, binary_obs(2), prev_action=[0.5, 1.0])
    with pytest.raises(attnagent.InvalidError):
        minatar_model.forward(s, binary_obs(2), logits=np.empty((2, 3)))  # float64 output
    with pytest.raises(attnagent.SizeError):
        minatar_model.map_to_pixels(np.ones((4, 5)))
    # a non-contiguous array of the right dtype is accepted (copied)
    minatar_model.forward(s, np.asfortranarray(binary_obs(2)))


def test_float_observations_must_be_finite():
    m = attnagent.Model(attnagent.Config("minatar", obs_c=2, num_actions=2, obs_type="float", threads=1))
    s = attnagent.State(m, 1)
    obs = np.zeros((1, 10, 10, 2), np.float32)
    m.forward(s, obs)
    obs[0, 1, 1, 1] = np.inf
    with pytest.raises(attnagent.NonFiniteError):
        m.forward(s, obs)


def test_closed_handles(minatar_model):
    m = attnagent.Model(minatar_model.config.clone(), 1)
    params = m.params
    s = attnagent.State(m, 1)
    m.close()
    assert m.closed
    with pytest.raises(attnagent.NullError, match="closed"):
        m.forward(s, binary_obs(1))
    with pytest.raises(attnagent.NullError):
        m.save("never.safetensors")
    with pytest.raises(attnagent.NullError):
        attnagent.State(m, 1)
    gc.collect()
    params[0] = 1.0          # the memory stays alive as long as a view of it does
    assert params[0] == 1.0
    s.close()
    with pytest.raises(attnagent.NullError):
        s.reset()
    opt = attnagent.Optimizer(minatar_model)
    with opt:
        pass
    with pytest.raises(attnagent.NullError):
        opt.step(minatar_model)


def test_files(tmp_path, minatar_model):
    with pytest.raises(attnagent.FileIOError) as e:
        attnagent.Model.load(tmp_path / "missing.safetensors")
    assert isinstance(e.value, OSError) and "missing.safetensors" in str(e.value)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}      ")
    with pytest.raises(attnagent.FormatError):
        attnagent.Model.load(bad)
    good = tmp_path / "good.safetensors"
    minatar_model.save(good)
    other = attnagent.Model(attnagent.Config("minatar", obs_c=5, num_actions=3, obs_type="binary"))
    with pytest.raises(attnagent.FormatError):
        other.load_params(good)                     # another configuration
    with pytest.raises(attnagent.FormatError, match="training"):
        ro = attnagent.Rollout(minatar_model, 2, 2)
        attnagent.training_load(good, minatar_model, attnagent.Optimizer(minatar_model), ro)


class Failing(attnagent.Env):
    def __init__(self, fail_at=None, exc=None, reward=0.0, byte=1):
        self.steps, self.fail_at, self.exc, self.reward, self.byte = 0, fail_at, exc, reward, byte

    def reset(self, index, seed, obs):
        obs[...] = 0
        obs[0, 0, 0] = self.byte

    def step(self, index, action, obs):
        self.steps += 1
        if self.steps == self.fail_at:
            raise self.exc
        return self.reward, False, False


def _model():
    return attnagent.Model(attnagent.Config("minatar", obs_c=1, num_actions=2, obs_type="binary", threads=1))


def test_callback_exceptions_become_callback_errors():
    m = _model()
    ro = attnagent.Rollout(m, 2, 3)
    with pytest.raises(attnagent.CallbackError) as e:
        ro.collect(m, Failing(fail_at=3, exc=ValueError("the world broke")))
    assert isinstance(e.value.__cause__, ValueError)
    assert "environment 0" in e.value.message and "the world broke" in e.value.message
    with pytest.raises(attnagent.StateError):
        ro.view()                                   # the unroll is incomplete
    ro.collect(m, Failing())                        # and the rollout is usable again
    with pytest.raises(attnagent.NonFiniteError, match="reward"):
        ro.collect(m, Failing(reward=float("nan")))
    with pytest.raises(attnagent.InvalidError, match="binary"):
        ro.collect(m, Failing(byte=255))


def test_keyboard_interrupt_in_a_callback_stops_the_library_and_is_raised():
    m = _model()
    ro = attnagent.Rollout(m, 2, 3)
    with pytest.raises(KeyboardInterrupt):
        ro.collect(m, Failing(fail_at=2, exc=KeyboardInterrupt()))
    ro.collect(m, Failing())


def test_bad_training_options_carry_attn_trains_message():
    with pytest.raises(attnagent.InvalidError, match="--algo: unknown value"):
        attnagent.options.parse(algo="dqn")
    with pytest.raises(attnagent.InvalidError, match='--envs: "0" is out of range'):
        attnagent.options.parse(envs=0)
