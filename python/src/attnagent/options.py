"""attn-train's options, parsed by attn-train's own code (examples/train_options.c, compiled into _native.so).

Keyword arguments become attn-train's command line (``lr=1e-3`` is ``--lr 0.001``, ``gae_lambda`` is
``--lambda``, ``True`` is a flag such as ``no_lr_decay=True``), so every default, range check and the way the
options set the optimizer and the loss are attn-train's, read from the one place it reads them.
"""
import contextlib
import ctypes as C
import os
import sys
import tempfile

from . import _lib
from ._lib import lib, call
from .core import _Handle
from .errors import InvalidError, OutOfMemoryError, python_error

_FLAG_NAMES = {"gae_lambda": "lambda"}


@contextlib.contextmanager
def _captured_output():
    """Collects what C code writes to stdout and stderr meanwhile (attn-train's parser prints its refusals)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, ValueError):
            pass
    saved = [os.dup(1), os.dup(2)]
    with tempfile.TemporaryFile() as f:
        os.dup2(f.fileno(), 1)
        os.dup2(f.fileno(), 2)
        text = []
        try:
            yield text
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            f.seek(0)
            text.append(f.read().decode("utf-8", "replace"))


def argv(**kwargs):
    """attn-train's command line for these options."""
    args = ["attn-train"]
    for key, value in kwargs.items():
        if value is None or value is False:
            continue
        flag = "--" + _FLAG_NAMES.get(key, key).replace("_", "-")
        if value is True:
            args.append(flag)
        else:
            args += [flag, repr(value) if isinstance(value, float) else str(value)]
    return args


class Options:
    """Parsed attn-train options: the values as attributes (env, game, algo, optim, envs, unroll, threads,
    frames, checkpoint_every, seed, sticky, max_episode_steps, out, preset, ...) and ``apply()``, which sets an
    optimizer and builds the loss configuration exactly as attn-train does."""

    def __init__(self, args):
        self.argv = list(args)
        arr = (C.c_char_p * len(args))(*[a.encode() for a in args])
        out = C.c_void_p()
        with _captured_output() as printed:
            rc = lib.attnpy_options_parse(C.byref(out), len(args), arr)
        if rc < 0:
            raise python_error(OutOfMemoryError, "out of memory parsing the options", "train_options_parse")
        if rc:
            message = printed[0].strip().replace("attn-train: ", "")
            raise python_error(InvalidError, f"{message} (options: {' '.join(args[1:])})", "train")
        self._h = _Handle(out.value, lib.attnpy_options_destroy)
        v = _lib.attnpy_option_values()
        lib.attnpy_options_values(self._h.ptr, C.byref(v))
        for name, _ in v._fields_:
            value = getattr(v, name)
            setattr(self, name, _lib.text(value) if isinstance(value, bytes) else value)
        self.algo = self.algo_name
        self.optim = {code: name for name, code in _lib.OPTIMIZERS.items()}[self.optim]
        self.preset = {code: name for name, code in _lib.PRESETS.items()}[self.preset]

    def apply(self, optimizer):
        """Sets `optimizer`'s knobs and returns the loss configuration (train_options_apply)."""
        from .training import LossConfig
        lc = _lib.attn_loss_config()
        call("attnpy_options_apply", self._h.ptr, optimizer._ptr, C.byref(lc))
        return LossConfig._from_struct(lc)

    def __repr__(self):
        return f"Options({' '.join(self.argv[1:])})"


def parse(**kwargs):
    """attn-train's options with these changes, e.g. ``parse(env="minatar:freeway", lr=1e-3)``."""
    return Options(argv(**kwargs))


def help_text():
    """attn-train's --help: every option train() accepts and its default."""
    with _captured_output() as printed:
        out = C.c_void_p()
        lib.attnpy_options_parse(C.byref(out), 2, (C.c_char_p * 2)(b"attn-train", b"--help"))
    return printed[0]
