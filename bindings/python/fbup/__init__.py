"""fbup: resumable uploads to the Meta Graph API, through libfbup (ctypes, no compiler).

    import fbup
    handle = fbup.upload("video.mp4", app_id=1234567890,
                         access_token=os.environ["FBUP_ACCESS_TOKEN"],
                         on_progress=lambda done, total: print(done, total))

libfbup is the one bundled in the wheel (``fbup/libfbup.so.0``), else the file named by
``FBUP_LIBRARY``, else the system's library search (``libfbup.so.0``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import dataclasses
import enum
import os
import threading
from typing import IO, Callable, Optional, Union

__all__ = [
    "FbupError", "ArgumentError", "FileError", "NetworkError", "TimeoutFbupError", "AuthError",
    "GraphError", "ThrottledError", "ProtocolError", "CancelledError", "StateError",
    "InternalError", "HandleLostError", "Info", "LogLevel", "Client", "Session", "Status",
    "upload", "version",
]

PathLike = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]
Source = Union[bytes, bytearray, memoryview, IO[bytes]]

_PROGRESS_FN = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint64)
_TOKEN_FN = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.POINTER(ctypes.c_char),
                             ctypes.c_size_t)
_LOG_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int32, ctypes.c_char_p)
_READ_FN = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_void_p, ctypes.c_uint64,
                            ctypes.POINTER(ctypes.c_uint8), ctypes.c_size_t)


class _Config(ctypes.Structure):
    """Mirrors ``fbup_config``; checked against the library's own size at load time."""

    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("app_id", ctypes.c_char_p),
        ("access_token", ctypes.c_char_p),
        ("graph_url", ctypes.c_char_p),
        ("api_version", ctypes.c_char_p),
        ("file_name", ctypes.c_char_p),
        ("file_type", ctypes.c_char_p),
        ("connect_timeout_ms", ctypes.c_uint32),
        ("stall_timeout_ms", ctypes.c_uint32),
        ("max_attempts", ctypes.c_uint32),
        ("response_timeout_ms", ctypes.c_uint32),
        ("max_retry_ms", ctypes.c_uint32),
        ("retry_base_ms", ctypes.c_uint32),
        ("retry_cap_ms", ctypes.c_uint32),
        ("token_fn", _TOKEN_FN),
        ("token_user_data", ctypes.c_void_p),
        ("state_dir", ctypes.c_char_p),
        ("send_buffer_bytes", ctypes.c_uint32),
        ("allow_insecure_http", ctypes.c_uint32),
        ("ca_file", ctypes.c_char_p),
        ("proxy", ctypes.c_char_p),
        ("max_send_rate", ctypes.c_uint64),
        ("log_fn", _LOG_FN),
        ("log_user_data", ctypes.c_void_p),
        ("log_level", ctypes.c_int32),
        ("max_request_bytes", ctypes.c_uint64),
    ]


class _Error(ctypes.Structure):
    _fields_ = [
        ("status", ctypes.c_int32),
        ("http_status", ctypes.c_int32),
        ("graph_code", ctypes.c_int64),
        ("graph_subcode", ctypes.c_int64),
        ("graph_type", ctypes.c_char_p),
        ("fbtrace_id", ctypes.c_char_p),
        ("message", ctypes.c_char_p),
    ]


class _Info(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("bytes_confirmed", ctypes.c_uint64),
        ("bytes_sent", ctypes.c_uint64),
        ("requests", ctypes.c_uint64),
        ("retries", ctypes.c_uint64),
        ("resumes", ctypes.c_uint64),
        ("wait_ms", ctypes.c_uint64),
        ("elapsed_ms", ctypes.c_uint64),
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


class LogLevel(enum.IntEnum):
    """The trace's levels: a ``log`` function receives lines of ``log_level`` and below."""

    ERROR = 1
    WARNING = 2
    INFO = 3
    DEBUG = 4


@dataclasses.dataclass(frozen=True)
class Info:
    """A session's transfer figures (:meth:`Session.info`)."""

    bytes_confirmed: int
    """Graph's offset as last known."""
    bytes_sent: int
    """Body bytes handed to the network, re-sent ones included."""
    requests: int
    """HTTP requests made."""
    retries: int
    """Failed attempts that were tried again."""
    resumes: int
    """Times the upload went on from an offset Graph reported."""
    wait_ms: int
    """Time spent waiting before retries."""
    elapsed_ms: int
    """Time spent inside :meth:`Session.upload`."""


def _load() -> ctypes.CDLL:
    bundled = os.path.join(os.path.dirname(os.path.abspath(__file__)), "libfbup.so.0")
    candidates = [bundled] if os.path.exists(bundled) else []
    if os.environ.get("FBUP_LIBRARY"):
        candidates.append(os.environ["FBUP_LIBRARY"])
    candidates.append(ctypes.util.find_library("fbup") or "libfbup.so.0")
    lib = None
    tried = []
    for path in candidates:
        try:
            lib = ctypes.CDLL(path)
            break
        except OSError as e:
            tried.append(f"{path}: {e}")
    if lib is None:
        raise ImportError(
            "fbup cannot find libfbup (" + "; ".join(tried) + "). Install the wheel that bundles "
            "it (`make wheel` in the fbup repository, then `pip install target/wheels/fbup-*.whl`),"
            " or install libfbup (`make install`) and set FBUP_LIBRARY to the path of "
            "libfbup.so.0")
    p = ctypes.c_void_p
    sig = {
        "fbup_config_init_sized": (None, [ctypes.POINTER(_Config), ctypes.c_size_t]),
        "fbup_create_session": (ctypes.c_int32, [ctypes.POINTER(_Config), ctypes.c_char_p, ctypes.POINTER(p)]),
        "fbup_resume_session": (
            ctypes.c_int32,
            [ctypes.POINTER(_Config), ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(p)],
        ),
        "fbup_create_session_reader": (
            ctypes.c_int32,
            [ctypes.POINTER(_Config), ctypes.c_uint64, _READ_FN, p, ctypes.POINTER(p)],
        ),
        "fbup_resume_session_reader": (
            ctypes.c_int32,
            [ctypes.POINTER(_Config), ctypes.c_uint64, _READ_FN, p, ctypes.c_char_p, ctypes.POINTER(p)],
        ),
        "fbup_upload": (ctypes.c_int32, [p, _PROGRESS_FN, p]),
        "fbup_get_offset": (ctypes.c_int32, [p, ctypes.POINTER(ctypes.c_uint64)]),
        "fbup_get_info": (ctypes.c_int32, [p, ctypes.POINTER(_Info)]),
        "fbup_cancel": (None, [p]),
        "fbup_session_id": (ctypes.c_char_p, [p]),
        "fbup_file_handle": (ctypes.c_char_p, [p]),
        "fbup_errmsg": (ctypes.c_char_p, [p]),
        "fbup_error_info": (ctypes.c_int32, [p, ctypes.POINTER(_Error)]),
        "fbup_status_str": (ctypes.c_char_p, [ctypes.c_int32]),
        "fbup_status_name": (ctypes.c_char_p, [ctypes.c_int32]),
        "fbup_version": (ctypes.c_char_p, []),
        "fbup_free": (None, [p]),
        "fbup_client_new": (ctypes.c_int32, [ctypes.POINTER(_Config), ctypes.POINTER(p)]),
        "fbup_client_errmsg": (ctypes.c_char_p, [p]),
        "fbup_client_free": (None, [p]),
        "fbup_client_create_session": (ctypes.c_int32, [p, ctypes.c_char_p, p, ctypes.POINTER(p)]),
        "fbup_client_resume_session": (
            ctypes.c_int32, [p, ctypes.c_char_p, ctypes.c_char_p, p, ctypes.POINTER(p)],
        ),
        "fbup_client_create_session_reader": (
            ctypes.c_int32,
            [p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_uint64, _READ_FN, p, p, ctypes.POINTER(p)],
        ),
    }
    for name, (res, args) in sig.items():
        fn = getattr(lib, name)
        fn.restype = res
        fn.argtypes = args
    # A library older than this binding writes (and reads) fewer bytes of the config
    # than the binding sets: refuse it rather than have fields silently ignored.
    probe = _Config()
    lib.fbup_config_init_sized(ctypes.byref(probe), ctypes.sizeof(_Config))
    if probe.struct_size != ctypes.sizeof(_Config):
        raise ImportError(
            f"libfbup has an fbup_config of {probe.struct_size} bytes, this binding expects "
            f"{ctypes.sizeof(_Config)}: use the binding that comes with that library")
    return lib


_lib = _load()


def version() -> str:
    """The library's version, e.g. ``"0.1.0"``."""
    return _lib.fbup_version().decode()


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


class _FileNotFound(FileError, FileNotFoundError):
    pass


class _FilePermission(FileError, PermissionError):
    pass


class NetworkError(FbupError, ConnectionError):
    """``Status.NETWORK``: the network failed and the retries were spent."""


class TimeoutFbupError(FbupError, TimeoutError):
    """``Status.TIMEOUT``: no byte moved for the stall timeout, retries spent."""


class AuthError(FbupError):
    """``Status.AUTH``: Graph refused the token."""


class GraphError(FbupError):
    """``Status.GRAPH``: a Graph error that retrying cannot fix."""


class ThrottledError(FbupError):
    """``Status.THROTTLED``: Graph throttled the app and the retries were spent."""


class ProtocolError(FbupError):
    """``Status.PROTOCOL``: an answer outside the protocol."""


class CancelledError(FbupError):
    """``Status.CANCELLED``: cancelled (``cancel()``, or a progress function); resumable."""


class StateError(FbupError):
    """``Status.STATE``: the call does not fit the session's state."""


class InternalError(FbupError):
    """``Status.INTERNAL``: a bug inside fbup."""


class HandleLostError(FbupError):
    """``Status.HANDLE_LOST``: every byte reached Graph but the handle was lost."""


_CLASSES = {
    Status.ARGUMENT: ArgumentError, Status.FILE: FileError, Status.NETWORK: NetworkError,
    Status.TIMEOUT: TimeoutFbupError, Status.AUTH: AuthError, Status.GRAPH: GraphError,
    Status.THROTTLED: ThrottledError, Status.PROTOCOL: ProtocolError,
    Status.CANCELLED: CancelledError, Status.STATE: StateError, Status.INTERNAL: InternalError,
    Status.HANDLE_LOST: HandleLostError,
}


def _error(status: int, message: str, *args: object) -> FbupError:
    cls = _CLASSES.get(Status(status), FbupError)
    if cls is FileError:
        lower = message.lower()
        if "does not exist" in lower or "no such file" in lower:
            cls = _FileNotFound
        elif "permission denied" in lower:
            cls = _FilePermission
    return cls(status, message, *args)  # type: ignore[arg-type]


def _raise_for(handle: Optional[int], status: int) -> None:
    if status == Status.OK:
        return
    info = _Error()
    session_id = ""
    if handle:
        session_id = (_lib.fbup_session_id(handle) or b"").decode()
    if handle and _lib.fbup_error_info(handle, ctypes.byref(info)) == Status.OK and info.status == status:
        raise _error(status, (info.message or b"").decode(errors="replace"), info.http_status,
                     info.graph_code, info.graph_subcode,
                     (info.graph_type or b"").decode(errors="replace"),
                     (info.fbtrace_id or b"").decode(errors="replace"), session_id)
    raise _error(status, _lib.fbup_status_str(status).decode(), 0, 0, 0, "", "", session_id)


def _enc(value: Optional[object]) -> Optional[bytes]:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value
    return os.fsencode(value) if isinstance(value, os.PathLike) else str(value).encode()


def _ms(name: str, seconds: Optional[float]) -> int:
    if seconds is None:
        return 0
    if seconds < 0:
        raise ArgumentError(Status.ARGUMENT, f"{name} is negative")
    return min(max(1, round(seconds * 1000)) if seconds > 0 else 0, 2**32 - 1)


class _Callbacks:
    """The C callbacks a session's config names, kept alive as long as the session."""

    def __init__(self) -> None:
        self.keep: list = []


def _config(keep: _Callbacks, app_id: Union[int, str], access_token: str,
            graph_url: Optional[str] = None, api_version: Optional[str] = None,
            file_name: Optional[str] = None, file_type: Optional[str] = None,
            connect_timeout: Optional[float] = None, stall_timeout: Optional[float] = None,
            response_timeout: Optional[float] = None, max_attempts: int = 0,
            max_retry: Optional[float] = None, retry_base: Optional[float] = None,
            retry_cap: Optional[float] = None,
            token_refresh: Optional[Callable[[], Optional[str]]] = None,
            state_dir: Optional[PathLike] = None, send_buffer: int = 0,
            allow_insecure_http: bool = False, ca_file: Optional[PathLike] = None,
            proxy: Optional[str] = None, max_send_rate: int = 0, max_request: int = 0,
            log: Optional[Callable[[int, str], object]] = None, log_level: int = 0) -> _Config:
    cfg = _Config()
    _lib.fbup_config_init_sized(ctypes.byref(cfg), ctypes.sizeof(_Config))
    cfg.app_id = _enc(app_id)
    cfg.access_token = _enc(access_token)
    cfg.graph_url = _enc(graph_url)
    cfg.api_version = _enc(api_version)
    cfg.file_name = _enc(file_name)
    cfg.file_type = _enc(file_type)
    cfg.state_dir = _enc(state_dir)
    cfg.ca_file = _enc(ca_file)
    cfg.proxy = _enc(proxy)
    for field, name, value in [("connect_timeout_ms", "connect_timeout", connect_timeout),
                               ("stall_timeout_ms", "stall_timeout", stall_timeout),
                               ("response_timeout_ms", "response_timeout", response_timeout),
                               ("max_retry_ms", "max_retry", max_retry),
                               ("retry_base_ms", "retry_base", retry_base),
                               ("retry_cap_ms", "retry_cap", retry_cap)]:
        ms = _ms(name, value)
        if ms:
            setattr(cfg, field, ms)
    if max_attempts < 0 or send_buffer < 0 or max_send_rate < 0 or max_request < 0:
        raise ArgumentError(Status.ARGUMENT,
                            "max_attempts, send_buffer, max_send_rate and max_request cannot be negative")
    if max_attempts:
        cfg.max_attempts = min(max_attempts, 2**32 - 1)
    if send_buffer:
        cfg.send_buffer_bytes = min(send_buffer, 2**32 - 1)
    cfg.allow_insecure_http = 1 if allow_insecure_http else 0
    cfg.max_send_rate = max_send_rate
    cfg.max_request_bytes = max_request
    cfg.log_level = int(log_level)
    if log is not None:
        def line(_user, level, text):
            try:
                log(LogLevel(level), text.decode(errors="replace"))
            except Exception:  # noqa: BLE001 - a trace must never break the upload
                pass

        cfg.log_fn = _LOG_FN(line)
        keep.keep.append(cfg.log_fn)
    if token_refresh is not None:
        def token(_user, buf, size):
            try:
                new = token_refresh()
            except Exception:  # noqa: BLE001 - no new token: the upload stops with AUTH
                return 1
            data = (new or "").encode()
            if not data or len(data) + 1 > size:
                return 1
            ctypes.memmove(buf, data + b"\0", len(data) + 1)
            return 0

        cfg.token_fn = _TOKEN_FN(token)
        keep.keep.append(cfg.token_fn)
    return cfg


def _reader(keep: _Callbacks, source: Source) -> "ctypes._CFuncPtr":
    """A C read callback over bytes in memory or a seekable binary file."""
    lock = threading.Lock()
    if isinstance(source, (bytes, bytearray, memoryview)):
        view = memoryview(source).cast("B")

        def read(_user, offset, buf, size):
            chunk = view[offset:offset + size]
            ctypes.memmove(buf, bytes(chunk), len(chunk))
            return len(chunk)
    else:
        def read(_user, offset, buf, size):
            try:
                with lock:
                    source.seek(offset)
                    data = source.read(size)
                ctypes.memmove(buf, data, len(data))
                return len(data)
            except Exception:  # noqa: BLE001 - the upload stops with Status.FILE
                return -1
    fn = _READ_FN(read)
    keep.keep.append(fn)
    return fn


class Session:
    """One upload session. Use it as a context manager, or call :meth:`close`.

    Create one with :meth:`create` (step 1), :meth:`resume` (an id saved earlier), or
    :meth:`create_reader` / :meth:`resume_reader` for bytes that are not a file. Every
    ``fbup_config`` field is a keyword: ``graph_url``, ``api_version``, ``file_name``,
    ``file_type``, ``connect_timeout``, ``stall_timeout``, ``response_timeout``,
    ``max_retry``, ``retry_base``, ``retry_cap`` (seconds), ``max_attempts``,
    ``token_refresh`` (a callable returning a new token or None), ``state_dir``,
    ``send_buffer``, ``allow_insecure_http``, ``ca_file``, ``proxy``, ``max_send_rate``
    (bytes per second), ``max_request`` (the most body bytes of one request; 0: the
    rest of the file, bounded only after a cut Graph kept none of), ``log`` (a callable
    ``(level, line)``) and ``log_level``.
    """

    def __init__(self, handle: int, keep: Optional[_Callbacks] = None) -> None:
        self._handle: Optional[int] = handle
        # The C callbacks the session calls: alive as long as it is.
        self._keep = keep

    @classmethod
    def create(cls, path: PathLike, *, app_id: Union[int, str], access_token: str,
               **options: object) -> "Session":
        """Checks the file and creates a Graph upload session for it."""
        keep = _Callbacks()
        cfg = _config(keep, app_id, access_token, **options)  # type: ignore[arg-type]
        out = ctypes.c_void_p()
        status = _lib.fbup_create_session(ctypes.byref(cfg), os.fsencode(path), ctypes.byref(out))
        return cls._adopt(out.value, status, keep)

    @classmethod
    def resume(cls, path: PathLike, session_id: str, *, app_id: Union[int, str], access_token: str,
               **options: object) -> "Session":
        """Re-opens a session saved earlier (its id, ``?sig=`` included) for the same file."""
        keep = _Callbacks()
        cfg = _config(keep, app_id, access_token, **options)  # type: ignore[arg-type]
        out = ctypes.c_void_p()
        status = _lib.fbup_resume_session(ctypes.byref(cfg), os.fsencode(path), session_id.encode(),
                                          ctypes.byref(out))
        return cls._adopt(out.value, status, keep)

    @classmethod
    def create_reader(cls, source: Source, size: Optional[int] = None, *, app_id: Union[int, str],
                      access_token: str, **options: object) -> "Session":
        """A session for bytes that are not a file: ``bytes``-like data, or a seekable
        binary file object of ``size`` bytes. ``file_name`` and ``file_type`` are required."""
        keep = _Callbacks()
        size = _size(source, size)
        cfg = _config(keep, app_id, access_token, **options)  # type: ignore[arg-type]
        out = ctypes.c_void_p()
        status = _lib.fbup_create_session_reader(ctypes.byref(cfg), size, _reader(keep, source), None,
                                                 ctypes.byref(out))
        return cls._adopt(out.value, status, keep)

    @classmethod
    def resume_reader(cls, source: Source, session_id: str, size: Optional[int] = None, *,
                      app_id: Union[int, str], access_token: str, **options: object) -> "Session":
        """Re-opens a session saved earlier for the bytes of ``source`` (see :meth:`create_reader`)."""
        keep = _Callbacks()
        size = _size(source, size)
        cfg = _config(keep, app_id, access_token, **options)  # type: ignore[arg-type]
        out = ctypes.c_void_p()
        status = _lib.fbup_resume_session_reader(ctypes.byref(cfg), size, _reader(keep, source), None,
                                                 session_id.encode(), ctypes.byref(out))
        return cls._adopt(out.value, status, keep)

    @classmethod
    def _adopt(cls, handle: Optional[int], status: int, keep: _Callbacks) -> "Session":
        try:
            _raise_for(handle, status)
        except FbupError:
            if handle:
                _lib.fbup_free(handle)
            raise
        assert handle is not None
        return cls(handle, keep)

    def _live(self) -> int:
        if not self._handle:
            raise StateError(Status.STATE, "the session is closed")
        return self._handle

    @property
    def id(self) -> str:
        """The session id, ``?sig=`` part included: save it to resume later."""
        return (_lib.fbup_session_id(self._live()) or b"").decode()

    @property
    def handle(self) -> Optional[str]:
        """Graph's handle once uploaded (it may hold ``\\n``), else None."""
        h = _lib.fbup_file_handle(self._live())
        return None if h is None else h.decode()

    def upload(self, on_progress: Optional[Callable[[int, int], object]] = None) -> str:
        """Uploads from Graph's offset to the end, resuming on its own; returns the handle.

        ``on_progress(done, total)`` may return False to cancel. An exception raised in
        it cancels the upload and is raised again from here. Ctrl-C (KeyboardInterrupt)
        cancels within a second, even while the network is stalled, and is raised again
        from here; the session stays resumable. The upload runs on a worker thread, so
        ``on_progress`` and ``log`` are called there.
        """
        handle = self._live()
        raised: list = []

        def trampoline(_user, done, total):
            if on_progress is None:
                return 0
            try:
                return 1 if on_progress(done, total) is False else 0
            except BaseException as e:  # noqa: BLE001 - re-raised below, never returned to C
                raised.append(e)
                return 1

        callback = _PROGRESS_FN(trampoline)
        result: list = []
        finished = threading.Event()

        def run():
            try:
                result.append(_lib.fbup_upload(handle, callback, None))
            finally:
                finished.set()

        # The main thread waits in short slices, where Python delivers Ctrl-C; a ctypes
        # call would hold it off until the upload returned.
        threading.Thread(target=run, name="fbup-upload", daemon=True).start()
        try:
            while not finished.wait(0.1):
                pass
        except KeyboardInterrupt:
            _lib.fbup_cancel(handle)
            # The session must not be freed under a running upload: wait it out (a
            # cancel ends it within a second), even through another Ctrl-C.
            while not finished.is_set():
                try:
                    finished.wait(0.1)
                except KeyboardInterrupt:
                    pass
            raise
        if raised:
            raise raised[0]
        _raise_for(handle, result[0])
        return self.handle or ""

    def offset(self) -> int:
        """How many bytes Graph holds (step 3)."""
        off = ctypes.c_uint64()
        handle = self._live()
        _raise_for(handle, _lib.fbup_get_offset(handle, ctypes.byref(off)))
        return off.value

    def info(self) -> Info:
        """The transfer figures so far; may be called during an upload (from its
        progress callback or another thread)."""
        out = _Info()
        out.struct_size = ctypes.sizeof(_Info)
        handle = self._live()
        _raise_for(handle, _lib.fbup_get_info(handle, ctypes.byref(out)))
        return Info(out.bytes_confirmed, out.bytes_sent, out.requests, out.retries, out.resumes,
                    out.wait_ms, out.elapsed_ms)

    def cancel(self) -> None:
        """From any thread: the running upload returns with ``Status.CANCELLED``."""
        if self._handle:
            _lib.fbup_cancel(self._handle)

    def close(self) -> None:
        """Releases the session; safe to call twice."""
        if self._handle:
            _lib.fbup_free(self._handle)
            self._handle = None

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()


class Client:
    """What sessions share: the config resolved once and one pool of connections to
    Graph, so that many files cost round trips, not TLS handshakes. A context manager;
    its methods may be called from several threads at once, and each session it makes
    is used by one thread at a time. A token refreshed by one session is the one the
    others send next; a cut, a stall or a cancel of one session never disturbs
    another's connection. Sessions made from it stay usable after :meth:`close`.

    The keywords are those of :meth:`Session.create`.
    """

    def __init__(self, *, app_id: Union[int, str], access_token: str, **options: object) -> None:
        self._handle: Optional[int] = None
        self._keep = _Callbacks()
        cfg = _config(self._keep, app_id, access_token, **options)  # type: ignore[arg-type]
        out = ctypes.c_void_p()
        status = _lib.fbup_client_new(ctypes.byref(cfg), ctypes.byref(out))
        if status != Status.OK:
            message = (_lib.fbup_client_errmsg(out.value) or b"").decode(errors="replace")
            _lib.fbup_client_free(out.value)
            raise _error(status, message, 0, 0, 0, "", "", "")
        self._handle = out.value

    def _live(self) -> int:
        if not self._handle:
            raise StateError(Status.STATE, "the client is closed")
        return self._handle

    def _session_keep(self, read: Optional[object] = None) -> _Callbacks:
        # A session made here keeps the client's callbacks (and its reader) alive.
        keep = _Callbacks()
        keep.keep.extend([self._keep, read])
        return keep

    def create(self, path: PathLike) -> Session:
        """Checks the file and creates a Graph upload session over the client's connections."""
        out = ctypes.c_void_p()
        status = _lib.fbup_client_create_session(self._live(), os.fsencode(path), None,
                                                 ctypes.byref(out))
        return Session._adopt(out.value, status, self._session_keep())

    def resume(self, path: PathLike, session_id: str) -> Session:
        """Re-opens a session saved earlier for the same file over the client's connections."""
        out = ctypes.c_void_p()
        status = _lib.fbup_client_resume_session(self._live(), os.fsencode(path),
                                                 session_id.encode(), None, ctypes.byref(out))
        return Session._adopt(out.value, status, self._session_keep())

    def create_reader(self, source: Source, size: Optional[int] = None, *,
                      file_name: Optional[str] = None, file_type: Optional[str] = None) -> Session:
        """A session for bytes that are not a file (see :meth:`Session.create_reader`),
        told to Graph as ``file_name`` of ``file_type`` (None: the client's)."""
        keep = _Callbacks()
        size = _size(source, size)
        read = _reader(keep, source)
        out = ctypes.c_void_p()
        status = _lib.fbup_client_create_session_reader(
            self._live(), _enc(file_name), _enc(file_type), size, read, None, None,
            ctypes.byref(out))
        return Session._adopt(out.value, status, self._session_keep(keep))

    def close(self) -> None:
        """Releases the client; safe to call twice."""
        if self._handle:
            _lib.fbup_client_free(self._handle)
            self._handle = None

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()


def _size(source: Source, size: Optional[int]) -> int:
    if size is not None:
        return size
    if isinstance(source, (bytes, bytearray, memoryview)):
        return memoryview(source).nbytes
    here = source.tell()
    end = source.seek(0, os.SEEK_END)
    source.seek(here)
    return end


def upload(path: PathLike, *, app_id: Union[int, str], access_token: str,
           on_progress: Optional[Callable[[int, int], object]] = None, **options: object) -> str:
    """Creates a session for ``path``, uploads it and returns Graph's handle."""
    with Session.create(path, app_id=app_id, access_token=access_token, **options) as s:
        return s.upload(on_progress)
