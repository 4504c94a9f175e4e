"""Every attn_status as a Python exception.

A failing C call raises the subclass of :class:`Error` for its status, carrying the library's own message
(``attn_last_error()``). Each subclass also derives from the built-in exception it resembles, so
``except ValueError`` catches a bad size as well as ``except attnagent.SizeError`` does. Checks the Python layer
makes before calling C (an array's dtype or shape, a closed handle) raise the same classes.
"""


class Error(Exception):
    """A libattnagent failure. ``status`` is the attn_status (negative), ``message`` what was wrong,
    ``function`` the C function (or Python method) that refused."""

    status = None

    def __init__(self, message, status_name=None, function=None):
        super().__init__(message)
        self.message = message
        self.status_name = status_name
        self.function = function

    def __str__(self):
        where = f"{self.function}: " if self.function else ""
        what = f" [{self.status_name}]" if self.status_name else ""
        return f"{where}{self.message}{what}"


class NullError(Error, ValueError):
    """ATTN_ERR_NULL: a required object was missing, e.g. a handle that was closed."""
    status = -1


class InvalidError(Error, ValueError):
    """ATTN_ERR_INVALID: an argument out of its range (unknown key, bad action, wrong dtype, a byte other than
    0 or 1 in binary planes, ...)."""
    status = -2


class SizeError(Error, ValueError):
    """ATTN_ERR_SIZE: a size or shape disagrees with the model, or exceeds what was reserved."""
    status = -3


class NonFiniteError(Error, ValueError):
    """ATTN_ERR_NONFINITE: NaN or infinity where the API forbids it."""
    status = -4


class OutOfMemoryError(Error, MemoryError):
    """ATTN_ERR_NOMEM: an allocation failed."""
    status = -5


class StateError(Error, RuntimeError):
    """ATTN_ERR_STATE: the call is out of order (e.g. maps before the first step)."""
    status = -6


class FileIOError(Error, OSError):
    """ATTN_ERR_IO: reading or writing a file failed."""
    status = -7


class FormatError(Error, ValueError):
    """ATTN_ERR_FORMAT: a file is corrupt, truncated, or does not match the configuration."""
    status = -8


class CallbackError(Error, RuntimeError):
    """ATTN_ERR_CALLBACK: an environment callback failed. When the environment is Python code, the exception
    it raised is chained as ``__cause__``."""
    status = -9


class AbortedError(Error, RuntimeError):
    """ATTN_ERR_ABORTED: an environment callback asked to stop."""
    status = -10


BY_STATUS = {cls.status: cls for cls in (NullError, InvalidError, SizeError, NonFiniteError, OutOfMemoryError,
                                         StateError, FileIOError, FormatError, CallbackError, AbortedError)}

_NAMES = {-1: "ATTN_ERR_NULL", -2: "ATTN_ERR_INVALID", -3: "ATTN_ERR_SIZE", -4: "ATTN_ERR_NONFINITE",
          -5: "ATTN_ERR_NOMEM", -6: "ATTN_ERR_STATE", -7: "ATTN_ERR_IO", -8: "ATTN_ERR_FORMAT",
          -9: "ATTN_ERR_CALLBACK", -10: "ATTN_ERR_ABORTED"}


def from_status(status, message, status_str=None, function=None):
    """The exception for a C status (an unknown status, from a newer library, is a plain Error)."""
    cls = BY_STATUS.get(status, Error)
    err = cls(message or status_str or f"status {status}", status_str, function)
    if cls is Error:
        err.status = status
    return err


def python_error(cls, message, function=None):
    """An exception raised by the Python layer's own checks, named like the library's."""
    return cls(message, _NAMES.get(cls.status), function)
