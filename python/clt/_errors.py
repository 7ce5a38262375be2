"""clt_status as Python exceptions. Every failing call raises a subclass of CltError that
carries the status and the library's own sentence (clt_last_error) naming the op, the
argument, the tier or the file."""
from . import _lib


class CltError(Exception):
    """A clt call failed. .status is the clt_status value, .status_name its enumerator
    name, .detail the sentence clt_last_error() gave (may be "")."""

    def __init__(self, status, detail, call=""):
        self.status = status
        self.status_name = _lib.status_name(status).decode()
        self.detail = detail
        self.call = call
        text = _lib.status_str(status).decode()
        where = f"{call}: " if call else ""
        super().__init__(f"{where}{text}: {detail}" if detail else f"{where}{text}")


class InvalidArgument(CltError, ValueError):
    """CLT_ERR_INVALID_ARG: a bad shape, dtype, stride, size or name."""


class OutOfMemory(CltError, MemoryError):
    """CLT_ERR_OUT_OF_MEMORY: a tier's budget is exhausted or an allocation failed."""


class NoDevice(CltError):
    """CLT_ERR_NO_DEVICE: the named device does not exist or cannot be opened."""


class Unsupported(CltError):
    """CLT_ERR_UNSUPPORTED: the device cannot run this and there is no fallback."""


class BuildError(CltError):
    """CLT_ERR_BUILD: a kernel program failed to build; .detail holds the log."""


class TransferError(CltError):
    """CLT_ERR_TRANSFER: a copy between host and device memory failed."""


class LaunchError(CltError):
    """CLT_ERR_LAUNCH: a kernel failed to launch or to run."""


class DeviceLost(CltError):
    """CLT_ERR_DEVICE_LOST: the device stopped answering."""


class IOFailure(CltError, OSError):
    """CLT_ERR_IO: a file read or write failed."""


class FormatError(CltError):
    """CLT_ERR_FORMAT: a file is corrupt, truncated or of a foreign format."""


class InternalError(CltError):
    """CLT_ERR_INTERNAL: a bug in clt; report it with the message."""


class CommError(CltError):
    """CLT_ERR_COMM: a collective with other ranks failed, or timed out (a rank died, hung
    or called another collective: then the communicator cannot be used again)."""


_BY_STATUS = {1: InvalidArgument, 2: OutOfMemory, 3: NoDevice, 4: Unsupported,
              5: BuildError, 6: TransferError, 7: LaunchError, 8: DeviceLost, 9: IOFailure,
              10: FormatError, 11: InternalError, 12: CommError}


def error_for(status, detail, call=""):
    """The exception for a status: its subclass, or CltError for an unknown value."""
    return _BY_STATUS.get(status, CltError)(status, detail, call)


def check(status, call):
    """Raises the exception for a failed status, with clt_last_error's sentence. Must be
    called on the thread that made the call (the sentence is thread-local)."""
    if status != _lib.STATUS_OK:
        raise error_for(status, _lib.last_error().decode(errors="replace"), call)


def invalid(call, detail):
    """An InvalidArgument raised by the binding itself, before calling the library."""
    return InvalidArgument(1, detail, call)
