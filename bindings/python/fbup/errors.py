"""The errors of fbup: an :class:`FbupError` for each failed call, with a subclass per
:class:`Status` that also derives from the built-in exception that fits it. Every name
here is also reachable as ``fbup.NAME``."""

from __future__ import annotations

import enum

__all__ = [
    "Status", "FbupError", "ArgumentError", "FileError", "MissingFileError",
    "FilePermissionError", "NetworkError", "NetworkTimeoutError", "AuthError", "GraphError",
    "ThrottledError", "ProtocolError", "CallCancelledError", "StateError", "InternalError",
    "HandleLostError",
]


class Status(enum.IntEnum):
    """The values of ``fbup_status``; the names are the C constants' without ``FBUP_E_``."""

    OK = 0
    ARGUMENT = 1
    FILE = 2
    NETWORK = 3
    TIMEOUT = 4
    AUTH = 5
    GRAPH = 6
    THROTTLED = 7
    PROTOCOL = 8
    CANCELLED = 9
    STATE = 10
    INTERNAL = 11
    HANDLE_LOST = 12


class FbupError(Exception):
    """A failed call, with the status and what Graph said. Each status has a subclass
    that also derives from the built-in exception that fits it (``ValueError`` for bad
    arguments, ``OSError`` for the file, ``ConnectionError``, ``TimeoutError``)."""

    def __init__(self, status: int, message: str, http_status: int = 0, graph_code: int = 0,
                 graph_subcode: int = 0, graph_type: str = "", fbtrace_id: str = "",
                 session_id: str = "") -> None:
        Exception.__init__(self, message)
        self.status = Status(status)
        self.status_name = self.status.name
        self.message = message
        self.http_status = http_status
        self.graph_code = graph_code
        self.graph_subcode = graph_subcode
        self.graph_type = graph_type
        self.fbtrace_id = fbtrace_id
        self.session_id = session_id
        """The session the failure leaves resumable, "" when none was made."""

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(status={self.status_name}, http_status={self.http_status}, "
                f"graph_code={self.graph_code}, message={self.message!r})")


class ArgumentError(FbupError, ValueError):
    """``Status.ARGUMENT``: a bad argument or config field."""


class FileError(FbupError, OSError):
    """``Status.FILE``: the file cannot be read, or changed during the upload."""


class MissingFileError(FileError, FileNotFoundError):
    """A ``FileError`` for a file that does not exist (``errno`` and ``filename`` set)."""


class FilePermissionError(FileError, PermissionError):
    """A ``FileError`` for a file that may not be read (``errno`` and ``filename`` set)."""


class NetworkError(FbupError, ConnectionError):
    """``Status.NETWORK``: the network failed and the retries were spent."""


class NetworkTimeoutError(FbupError, TimeoutError):
    """``Status.TIMEOUT``: no byte moved for the stall timeout, retries spent."""


class AuthError(FbupError):
    """``Status.AUTH``: Graph refused the token."""


class GraphError(FbupError):
    """``Status.GRAPH``: a Graph error that retrying cannot fix."""


class ThrottledError(FbupError):
    """``Status.THROTTLED``: Graph throttled the app and the retries were spent."""


class ProtocolError(FbupError):
    """``Status.PROTOCOL``: an answer outside the protocol."""


class CallCancelledError(FbupError):
    """``Status.CANCELLED``: cancelled (``cancel()``, or a progress function); resumable.
    (Not ``asyncio.CancelledError``, which a cancelled task raises.)"""


class StateError(FbupError):
    """``Status.STATE``: the call does not fit the session's state."""


class InternalError(FbupError):
    """``Status.INTERNAL``: a bug inside fbup."""


class HandleLostError(FbupError):
    """``Status.HANDLE_LOST``: every byte reached Graph but the handle was lost."""


_CLASSES = {
    Status.ARGUMENT: ArgumentError, Status.FILE: FileError, Status.NETWORK: NetworkError,
    Status.TIMEOUT: NetworkTimeoutError, Status.AUTH: AuthError, Status.GRAPH: GraphError,
    Status.THROTTLED: ThrottledError, Status.PROTOCOL: ProtocolError,
    Status.CANCELLED: CallCancelledError, Status.STATE: StateError, Status.INTERNAL: InternalError,
    Status.HANDLE_LOST: HandleLostError,
}


def _error(status: int, message: str, *args: object) -> FbupError:
    cls = _CLASSES.get(Status(status), FbupError)
    return cls(status, message, *args)  # type: ignore[arg-type]


# Shown (in tracebacks and reprs) where users reach them: fbup.FileError, fbup.Status.
for _name in __all__:
    globals()[_name].__module__ = "fbup"
del _name
