"""fbup: resumable uploads to the Meta Graph API, through libfbup (ctypes, no compiler).

    import fbup
    handle = fbup.upload("video.mp4", app_id="1234567890",
                         access_token=os.environ["FBUP_ACCESS_TOKEN"],
                         on_progress=lambda done, total: print(done, total))

libfbup is found through the ``FBUP_LIBRARY`` environment variable (a path), else the
system's library search (``libfbup.so.0``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import dataclasses
import os
from typing import Callable, Optional

__all__ = ["FbupError", "Info", "LogLevel", "Session", "upload", "version", "Status"]

_PROGRESS_FN = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint64)
_TOKEN_FN = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)
_LOG_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int32, ctypes.c_char_p)


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


class LogLevel:
    """The trace's levels: a ``log`` function receives lines of ``log_level`` and below."""

    ERROR = 1
    WARNING = 2
    INFO = 3
    DEBUG = 4


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


class Status:
    """The values of ``fbup_status``."""

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


def _load() -> ctypes.CDLL:
    path = os.environ.get("FBUP_LIBRARY") or ctypes.util.find_library("fbup") or "libfbup.so.0"
    lib = ctypes.CDLL(path)
    p = ctypes.c_void_p
    sig = {
        "fbup_config_init_sized": (None, [ctypes.POINTER(_Config), ctypes.c_size_t]),
        "fbup_create_session": (ctypes.c_int32, [ctypes.POINTER(_Config), ctypes.c_char_p, ctypes.POINTER(p)]),
        "fbup_resume_session": (
            ctypes.c_int32,
            [ctypes.POINTER(_Config), ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(p)],
        ),
        "fbup_upload": (ctypes.c_int32, [p, _PROGRESS_FN, p]),
        "fbup_get_offset": (ctypes.c_int32, [p, ctypes.POINTER(ctypes.c_uint64)]),
        "fbup_cancel": (None, [p]),
        "fbup_session_id": (ctypes.c_char_p, [p]),
        "fbup_file_handle": (ctypes.c_char_p, [p]),
        "fbup_errmsg": (ctypes.c_char_p, [p]),
        "fbup_error_info": (ctypes.c_int32, [p, ctypes.POINTER(_Error)]),
        "fbup_status_str": (ctypes.c_char_p, [ctypes.c_int32]),
        "fbup_version": (ctypes.c_char_p, []),
        "fbup_free": (None, [p]),
        "fbup_get_info": (ctypes.c_int32, [p, ctypes.POINTER(_Info)]),
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
            f"{path} has an fbup_config of {probe.struct_size} bytes, this binding expects "
            f"{ctypes.sizeof(_Config)}: use the binding that comes with that library"
        )
    return lib


_lib = _load()


def version() -> str:
    """The library's version, e.g. ``"0.1.0"``."""
    return _lib.fbup_version().decode()


class FbupError(Exception):
    """A failed call, with the status and what Graph said."""

    def __init__(self, status: int, message: str, http_status: int = 0, graph_code: int = 0,
                 graph_subcode: int = 0, graph_type: str = "", fbtrace_id: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.status_name = _lib.fbup_status_str(status).decode()
        self.message = message
        self.http_status = http_status
        self.graph_code = graph_code
        self.graph_subcode = graph_subcode
        self.graph_type = graph_type
        self.fbtrace_id = fbtrace_id

    def __repr__(self) -> str:
        return (f"FbupError(status={self.status} ({self.status_name}), http_status={self.http_status}, "
                f"graph_code={self.graph_code}, message={self.message!r})")


def _raise_for(handle: Optional[int], status: int) -> None:
    if status == Status.OK:
        return
    info = _Error()
    if handle and _lib.fbup_error_info(handle, ctypes.byref(info)) == Status.OK and info.status == status:
        raise FbupError(status, (info.message or b"").decode(errors="replace"), info.http_status,
                        info.graph_code, info.graph_subcode,
                        (info.graph_type or b"").decode(errors="replace"),
                        (info.fbtrace_id or b"").decode(errors="replace"))
    raise FbupError(status, _lib.fbup_status_str(status).decode())


def _enc(value: Optional[str]) -> Optional[bytes]:
    return None if value is None else value.encode()


class Session:
    """One upload session. Use it as a context manager, or call :meth:`close`.

    Create one with :meth:`create` (step 1) or :meth:`resume` (an id saved earlier).
    """

    def __init__(self, handle: int, keep: object = None) -> None:
        self._handle: Optional[int] = handle
        # The C callbacks the session calls (the trace): alive as long as it is.
        self._keep = keep

    @staticmethod
    def _config(app_id: str, access_token: str, graph_url: Optional[str], api_version: Optional[str],
                file_name: Optional[str], file_type: Optional[str], state_dir: Optional[str],
                stall_timeout_ms: int, max_attempts: int, retry_base_ms: int,
                max_send_rate: int = 0, log: Optional[Callable[[int, str], object]] = None,
                log_level: int = 0) -> _Config:
        cfg = _Config()
        _lib.fbup_config_init_sized(ctypes.byref(cfg), ctypes.sizeof(_Config))
        cfg.app_id = _enc(app_id)
        cfg.access_token = _enc(access_token)
        cfg.graph_url = _enc(graph_url)
        cfg.api_version = _enc(api_version)
        cfg.file_name = _enc(file_name)
        cfg.file_type = _enc(file_type)
        cfg.state_dir = _enc(state_dir)
        if stall_timeout_ms:
            cfg.stall_timeout_ms = stall_timeout_ms
        if max_attempts:
            cfg.max_attempts = max_attempts
        if retry_base_ms:
            cfg.retry_base_ms = retry_base_ms
        cfg.max_send_rate = max_send_rate
        cfg.log_level = log_level
        if log is not None:
            def line(_user, level, text):
                try:
                    log(level, text.decode(errors="replace"))
                except Exception:  # noqa: BLE001 - a trace must never break the upload
                    pass

            cfg.log_fn = _LOG_FN(line)
        return cfg

    @classmethod
    def create(cls, path: str, *, app_id: str, access_token: str, graph_url: Optional[str] = None,
               api_version: Optional[str] = None, file_name: Optional[str] = None,
               file_type: Optional[str] = None, state_dir: Optional[str] = None,
               stall_timeout_ms: int = 0, max_attempts: int = 0, retry_base_ms: int = 0,
               max_send_rate: int = 0, log: Optional[Callable[[int, str], object]] = None,
               log_level: int = 0) -> "Session":
        """Checks the file and creates a Graph upload session for it.

        ``log(level, line)`` receives the trace (each request to Graph, its answer and
        each decision; never the token) for lines of ``log_level`` (a :class:`LogLevel`,
        INFO when 0) and below, on the thread that calls into fbup. Exceptions it raises
        are ignored. ``max_send_rate`` caps bytes per second (0: no cap).
        """
        cfg = cls._config(app_id, access_token, graph_url, api_version, file_name, file_type, state_dir,
                          stall_timeout_ms, max_attempts, retry_base_ms, max_send_rate, log, log_level)
        out = ctypes.c_void_p()
        status = _lib.fbup_create_session(ctypes.byref(cfg), os.fsencode(path), ctypes.byref(out))
        return cls._adopt(out.value, status, cfg.log_fn)

    @classmethod
    def resume(cls, path: str, session_id: str, *, app_id: str, access_token: str,
               graph_url: Optional[str] = None, api_version: Optional[str] = None,
               file_name: Optional[str] = None, file_type: Optional[str] = None,
               stall_timeout_ms: int = 0, max_attempts: int = 0, retry_base_ms: int = 0,
               max_send_rate: int = 0, log: Optional[Callable[[int, str], object]] = None,
               log_level: int = 0) -> "Session":
        """Re-opens a session saved earlier (its id, ``?sig=`` included) for the same file."""
        cfg = cls._config(app_id, access_token, graph_url, api_version, file_name, file_type, None,
                          stall_timeout_ms, max_attempts, retry_base_ms, max_send_rate, log, log_level)
        out = ctypes.c_void_p()
        status = _lib.fbup_resume_session(ctypes.byref(cfg), os.fsencode(path), session_id.encode(),
                                          ctypes.byref(out))
        return cls._adopt(out.value, status, cfg.log_fn)

    @classmethod
    def _adopt(cls, handle: Optional[int], status: int, keep: object = None) -> "Session":
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
            raise FbupError(Status.STATE, "the session is closed")
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
        it cancels the upload and is raised again from here.
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
        status = _lib.fbup_upload(handle, callback, None)
        if raised:
            raise raised[0]
        _raise_for(handle, status)
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


def upload(path: str, *, app_id: str, access_token: str,
           on_progress: Optional[Callable[[int, int], object]] = None, **options: object) -> str:
    """Creates a session for ``path``, uploads it and returns Graph's handle."""
    with Session.create(path, app_id=app_id, access_token=access_token, **options) as s:  # type: ignore[arg-type]
        return s.upload(on_progress)
