"""fbup: resumable uploads to the Meta Graph API, through libfbup (ctypes, no compiler).

    import fbup
    handle = fbup.upload("video.mp4", app_id=1234567890,
                         access_token=os.environ["FBUP_ACCESS_TOKEN"],
                         on_progress=lambda done, total: print(done, total))

Failures raise :class:`FbupError`, or the subclass of its :class:`Status` from
:mod:`fbup.errors` (also reachable here): ``ArgumentError`` (a ``ValueError``),
``FileError`` (an ``OSError``; ``MissingFileError``, ``FilePermissionError``),
``NetworkError`` (a ``ConnectionError``), ``NetworkTimeoutError`` (a ``TimeoutError``),
``AuthError``, ``GraphError``, ``ThrottledError``, ``ProtocolError``,
``CallCancelledError``, ``StateError``, ``InternalError``, ``HandleLostError``.

Every call that waits on the network can be interrupted: Ctrl-C raises
``KeyboardInterrupt`` within a second, and the ``*_async`` functions (``await
fbup.upload_async(...)``, ``Session.upload_async``...) cancel the call when their task
is cancelled; a session stays resumable either way. The options (``stall_timeout=``,
``max_send_rate=``...) are typed: see :class:`Options`.

libfbup is the one bundled in the wheel (``fbup/libfbup.so.0``), else the file named by
``FBUP_LIBRARY``, else the system's library search (``libfbup.so.0``).
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import dataclasses
import enum
import os
import threading
from typing import IO, TYPE_CHECKING, Any, Callable, List, Optional, Tuple, TypedDict, Union

if TYPE_CHECKING:  # typing.Unpack is Python 3.11's; type checkers know this one
    from typing_extensions import Unpack

__version__ = "0.1.0"

from .errors import (_CLASSES, ArgumentError, AuthError, CallCancelledError, FbupError,  # noqa: F401
                     FileError, FilePermissionError, GraphError, HandleLostError, InternalError,
                     MissingFileError, NetworkError, NetworkTimeoutError, ProtocolError,
                     StateError, Status, ThrottledError, _error)

# The core API: what help(fbup) shows in full. The errors and their statuses
# (fbup.errors: Status, FbupError and a subclass per status, each also a fitting
# built-in) are reachable here as well, e.g. fbup.FileError, fbup.Status.AUTH.
__all__ = [
    "upload", "upload_async", "Session", "Client", "Options", "Info", "LogLevel", "FbupError",
    "errors", "version", "__version__",
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
        ("canceller", ctypes.c_void_p),
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
        "fbup_canceller_new": (ctypes.c_int32, [ctypes.POINTER(p)]),
        "fbup_canceller_cancel": (None, [p]),
        "fbup_canceller_free": (None, [p]),
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
    return str(_lib.fbup_version().decode())


def _file_error(err: FbupError, path: Optional[PathLike]) -> FbupError:
    """A file error of ``path`` as the built-in would say it: ``MissingFileError`` or
    ``FilePermissionError`` with ``errno``, ``strerror`` and ``filename``."""
    if path is None or err.status != Status.FILE:
        return err
    try:
        os.stat(path)
        return err
    except OSError as e:
        cls: "type[FileError]" = FileError
        if isinstance(e, FileNotFoundError):
            cls = MissingFileError
        elif isinstance(e, PermissionError):
            cls = FilePermissionError
        made = cls(err.status, err.message, err.http_status, err.graph_code, err.graph_subcode,
                   err.graph_type, err.fbtrace_id, err.session_id)
        made.errno, made.strerror, made.filename = e.errno, e.strerror, os.fsdecode(path)
        return made


def _failure(handle: Optional[int], status: int) -> Optional[FbupError]:
    if status == Status.OK:
        return None
    info = _Error()
    session_id = ""
    if handle:
        session_id = (_lib.fbup_session_id(handle) or b"").decode()
    if handle and _lib.fbup_error_info(handle, ctypes.byref(info)) == Status.OK and info.status == status:
        return _error(status, (info.message or b"").decode(errors="replace"), info.http_status,
                      info.graph_code, info.graph_subcode,
                      (info.graph_type or b"").decode(errors="replace"),
                      (info.fbtrace_id or b"").decode(errors="replace"), session_id)
    return _error(status, _lib.fbup_status_str(status).decode(), 0, 0, 0, "", "", session_id)


def _raise_for(handle: Optional[int], status: int, call: Optional["_Call"] = None,
               path: Optional[PathLike] = None) -> None:
    """Raises the error of ``status``, chained (``__cause__``) to what a function of the
    caller's raised inside the call (a file object's read, a token refresh)."""
    err = _failure(handle, status)
    if err is None:
        return
    err = _file_error(err, path)
    cause = call.raised[0] if call is not None and call.raised else None
    if cause is not None:
        raise err from cause
    raise err


def _enc(value: Optional[object]) -> Optional[bytes]:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value
    return os.fsencode(value) if isinstance(value, os.PathLike) else str(value).encode()


class Options(TypedDict, total=False):
    """The optional keywords of every call that makes a session or a client, each typed
    so that a type checker catches a misspelt name or a wrong type (at run time an
    unknown name is a ``TypeError`` that names it). Durations are seconds (floats); 0
    or None takes libfbup's default."""

    graph_url: Optional[str]
    """Graph's base URL (None: https://graph.facebook.com)."""
    api_version: Optional[str]
    """The Graph API version (None: the one fbup is tested against)."""
    file_name: Optional[str]
    """The name Graph is told (None: the file's; required for a reader)."""
    file_type: Optional[str]
    """The MIME type (None: from the extension; required for a reader)."""
    connect_timeout: Optional[float]
    """Bounds a TCP connect (30 s)."""
    stall_timeout: Optional[float]
    """Fails an attempt when no byte moves for this long (60 s)."""
    response_timeout: Optional[float]
    """Bounds the wait for Graph's answer after the last byte (120 s)."""
    max_attempts: int
    """Attempts in a row without progress before giving up (8)."""
    max_retry: Optional[float]
    """Time without progress before giving up (15 minutes)."""
    retry_base: Optional[float]
    """The first retry's longest wait, doubling each time (0.5 s)."""
    retry_cap: Optional[float]
    """The longest wait between retries unless Graph asks for more (30 s)."""
    token_refresh: Optional[Callable[[], Optional[str]]]
    """Asked for a new token when Graph refuses one mid-upload; None or "": none."""
    state_dir: Optional[PathLike]
    """The resume journal's folder (None: off)."""
    send_buffer: int
    """Bytes read and sent at a time (64 KiB)."""
    allow_insecure_http: bool
    """Accept a plain http:// graph_url whose host is not loopback."""
    ca_file: Optional[PathLike]
    """A PEM file of root certificates trusted instead of the public ones."""
    proxy: Optional[str]
    """The proxy URL (None: HTTPS_PROXY, ALL_PROXY and NO_PROXY)."""
    max_send_rate: int
    """Bytes per second at most (0: no cap); a Client's is shared by all its sessions."""
    max_request: int
    """The most body bytes of one request (0: the rest of the file)."""
    log: Optional[Callable[[LogLevel, str], object]]
    """Receives the trace, ``(level, line)``; never the token."""
    log_level: int
    """The least important level ``log`` receives (``LogLevel.INFO``)."""


_DURATIONS = {"connect_timeout": "connect_timeout_ms", "stall_timeout": "stall_timeout_ms",
              "response_timeout": "response_timeout_ms", "max_retry": "max_retry_ms",
              "retry_base": "retry_base_ms", "retry_cap": "retry_cap_ms"}
_STRINGS = {"graph_url", "api_version", "file_name", "file_type", "state_dir", "ca_file", "proxy"}
_COUNTS = {"max_attempts": ("max_attempts", 2**32 - 1), "send_buffer": ("send_buffer_bytes", 2**32 - 1),
           "max_send_rate": ("max_send_rate", 2**64 - 1), "max_request": ("max_request_bytes", 2**64 - 1),
           "log_level": ("log_level", 2**31 - 1)}
_CALLABLES = {"token_refresh", "log"}


class _Call:
    """One call into libfbup: what the caller's functions raised inside it. The
    callbacks find it through the thread they run on, which is the call's."""

    def __init__(self) -> None:
        self.raised: List[BaseException] = []


_here = threading.local()


def _caller_raised(e: BaseException) -> None:
    call = getattr(_here, "call", None)
    if call is not None:
        call.raised.append(e)


class _Callbacks:
    """The C callbacks a session's config names, kept alive as long as the session."""

    def __init__(self) -> None:
        self.keep: List[object] = []


def _config(keep: _Callbacks, app_id: Union[int, str], access_token: str,
            options: "Options") -> _Config:
    cfg = _Config()
    _lib.fbup_config_init_sized(ctypes.byref(cfg), ctypes.sizeof(_Config))
    cfg.app_id = _enc(app_id)
    cfg.access_token = _enc(access_token)
    given: "dict[str, Any]" = dict(options)
    for name, value in given.items():
        if name in _STRINGS:
            if value is not None and not isinstance(value, (str, bytes, os.PathLike)):
                raise TypeError(f"{name} must be a string, not {type(value).__name__}")
            setattr(cfg, name, _enc(value))
        elif name in _DURATIONS:
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"{name} must be a number of seconds, not {type(value).__name__}")
            if value < 0:
                raise ArgumentError(Status.ARGUMENT, f"{name} is negative")
            ms = min(max(1, round(value * 1000)) if value > 0 else 0, 2**32 - 1)
            if ms:
                setattr(cfg, _DURATIONS[name], ms)
        elif name in _COUNTS:
            field, most = _COUNTS[name]
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name} must be an int, not {type(value).__name__}")
            if value < 0:
                raise ArgumentError(Status.ARGUMENT, f"{name} cannot be negative")
            if value:
                setattr(cfg, field, min(value, most))
        elif name == "allow_insecure_http":
            cfg.allow_insecure_http = 1 if value else 0
        elif name in _CALLABLES:
            if value is not None and not callable(value):
                raise TypeError(f"{name} must be callable, not {type(value).__name__}")
        else:
            known = ", ".join(sorted(Options.__annotations__))
            raise TypeError(f"unknown option {name!r}; the options are: {known}")
    log = given.get("log")
    if log is not None:
        def line(_user: object, level: int, text: bytes) -> None:
            try:
                log(LogLevel(level), text.decode(errors="replace"))
            except Exception:  # noqa: BLE001 - a trace must never break the upload
                pass

        cfg.log_fn = _LOG_FN(line)
        keep.keep.append(cfg.log_fn)
    token_refresh = given.get("token_refresh")
    if token_refresh is not None:
        def token(_user: object, buf: Any, size: int) -> int:
            try:
                new = token_refresh()
            except Exception as e:  # noqa: BLE001 - the call stops with AUTH, chained to e
                _caller_raised(e)
                return 1
            data = (new or "").encode()
            if not data or len(data) + 1 > size:
                return 1
            ctypes.memmove(buf, data + b"\0", len(data) + 1)
            return 0

        cfg.token_fn = _TOKEN_FN(token)
        keep.keep.append(cfg.token_fn)
    return cfg


def _reader(keep: _Callbacks, source: Source) -> Any:
    """A C read callback over bytes in memory or a seekable binary file; an exception of
    the file object ends the call with ``FileError`` chained to it."""
    lock = threading.Lock()
    if isinstance(source, (bytes, bytearray, memoryview)):
        view = memoryview(source).cast("B")

        def read(_user: object, offset: int, buf: Any, size: int) -> int:
            chunk = view[offset:offset + size]
            ctypes.memmove(buf, bytes(chunk), len(chunk))
            return len(chunk)
    else:
        def read(_user: object, offset: int, buf: Any, size: int) -> int:
            try:
                with lock:
                    source.seek(offset)
                    data = source.read(size)
                ctypes.memmove(buf, data, len(data))
                return len(data)
            except Exception as e:  # noqa: BLE001 - the call stops with FILE, chained to e
                _caller_raised(e)
                return -1
    fn = _READ_FN(read)
    keep.keep.append(fn)
    return fn


def _blocking(work: Callable[[], int], cancel: Callable[[], None]) -> Tuple[int, _Call]:
    """Runs ``work`` (a libfbup call) on a worker thread while this thread waits in short
    slices, where Python delivers Ctrl-C: a KeyboardInterrupt cancels the call, waits
    for it to return (within a second) and is raised again."""
    call = _Call()
    result: List[int] = []
    finished = threading.Event()

    def run() -> None:
        _here.call = call
        try:
            result.append(work())
        finally:
            _here.call = None
            finished.set()

    threading.Thread(target=run, name="fbup-call", daemon=True).start()
    try:
        while not finished.wait(0.1):
            pass
    except KeyboardInterrupt:
        if not finished.is_set():
            cancel()
        # Nothing the call uses may be freed while it runs: wait it out, even through
        # another Ctrl-C.
        while not finished.is_set():
            try:
                finished.wait(0.1)
            except KeyboardInterrupt:
                pass
        raise
    return result[0], call


async def _awaiting(work: Callable[[], int], cancel: Callable[[], None]) -> Tuple[int, _Call]:
    """Runs ``work`` on a thread of its own for an asyncio task: cancelling the task
    cancels the call, which returns within a second before the task ends."""
    loop = asyncio.get_running_loop()
    call = _Call()
    done: "asyncio.Future[int]" = loop.create_future()

    def settle(status: Optional[int], error: Optional[BaseException]) -> None:
        if done.done():
            return
        if error is not None:
            done.set_exception(error)
        else:
            done.set_result(status or 0)

    def run() -> None:
        _here.call = call
        status: Optional[int] = None
        error: Optional[BaseException] = None
        try:
            status = work()
        except BaseException as e:  # noqa: BLE001 - handed to the task
            error = e
        finally:
            _here.call = None
        try:
            loop.call_soon_threadsafe(settle, status, error)
        except RuntimeError:  # the loop is closed: nobody waits any more
            pass

    threading.Thread(target=run, name="fbup-call", daemon=True).start()
    try:
        return await asyncio.shield(done), call
    except asyncio.CancelledError:
        if not done.done():
            cancel()
        await asyncio.wait([done])
        raise


class _Canceller:
    """A libfbup canceller for one create or resume."""

    def __init__(self) -> None:
        out = ctypes.c_void_p()
        _raise_for(None, _lib.fbup_canceller_new(ctypes.byref(out)))
        self.handle: Optional[int] = out.value

    def cancel(self) -> None:
        _lib.fbup_canceller_cancel(self.handle)

    def free(self) -> None:
        if self.handle:
            _lib.fbup_canceller_free(self.handle)
            self.handle = None


class _Opening:
    """The parts of a call that makes a session: the C call, given a canceller and
    the out pointer; the callbacks the session keeps; the path, for file errors."""

    def __init__(self, make: Callable[[Optional[int], Any], int], keep: _Callbacks,
                 path: Optional[PathLike] = None) -> None:
        self.make, self.keep, self.path = make, keep, path
        self.canceller = _Canceller()
        self.out = ctypes.c_void_p()

    def work(self) -> int:
        return self.make(self.canceller.handle, ctypes.byref(self.out))

    def adopt(self, outcome: Tuple[int, _Call]) -> "Session":
        """The session made, or the call's error."""
        self.canceller.free()
        handle = self.out.value
        try:
            _raise_for(handle, outcome[0], outcome[1], self.path)
        except BaseException:
            if handle:
                _lib.fbup_free(handle)
            raise
        assert handle is not None
        return Session._made(handle, self.keep)

    def run(self) -> "Session":
        try:
            outcome = _blocking(self.work, self.canceller.cancel)
        except KeyboardInterrupt:
            self._drop()
            raise
        return self.adopt(outcome)

    async def run_async(self) -> "Session":
        try:
            outcome = await _awaiting(self.work, self.canceller.cancel)
        except asyncio.CancelledError:
            self._drop()
            raise
        return self.adopt(outcome)

    def _drop(self) -> None:
        self.canceller.free()
        if self.out.value:
            _lib.fbup_free(self.out.value)


def _opening(make: Callable[[Any, Any, Any], int], keep: _Callbacks, app_id: Union[int, str],
             access_token: str, options: "Options", path: Optional[PathLike] = None) -> _Opening:
    """An opening through a fresh config (the package-level calls)."""
    cfg = _config(keep, app_id, access_token, options)

    def with_config(canceller: Optional[int], out: Any) -> int:
        cfg.canceller = canceller
        return make(ctypes.byref(cfg), out, cfg)

    return _Opening(with_config, keep, path)


class Session:
    """One upload session. Use it as a context manager, or call :meth:`close`.

    Made by :meth:`create` (step 1), :meth:`resume` (an id saved earlier), or
    :meth:`create_reader` / :meth:`resume_reader` for bytes that are not a file, each
    with an ``*_async`` twin for asyncio; the keywords are :class:`Options`.
    """

    _handle: Optional[int]
    _keep: Optional[_Callbacks]
    _cancels: int

    def __init__(self) -> None:
        raise TypeError("make a Session with Session.create, resume, create_reader or "
                        "resume_reader (or a Client's)")

    @classmethod
    def _made(cls, handle: int, keep: Optional[_Callbacks]) -> "Session":
        s = cls.__new__(cls)
        s._handle = handle
        s._cancels = 0
        # The C callbacks the session calls: alive as long as it is.
        s._keep = keep
        return s

    @staticmethod
    def _file(path: PathLike, app_id: Union[int, str], access_token: str,
              options: "Options", session_id: Optional[str] = None) -> _Opening:
        cpath = os.fsencode(path)
        if session_id is None:
            return _opening(lambda cfg, out, _c: _lib.fbup_create_session(cfg, cpath, out),
                            _Callbacks(), app_id, access_token, options, path)
        cid = session_id.encode()
        return _opening(lambda cfg, out, _c: _lib.fbup_resume_session(cfg, cpath, cid, out),
                        _Callbacks(), app_id, access_token, options, path)

    @staticmethod
    def _bytes(source: Source, size: Optional[int], app_id: Union[int, str], access_token: str,
               options: "Options", session_id: Optional[str] = None) -> _Opening:
        keep = _Callbacks()
        length = _size(source, size)
        read = _reader(keep, source)
        if session_id is None:
            return _opening(lambda cfg, out, _c: _lib.fbup_create_session_reader(
                cfg, length, read, None, out), keep, app_id, access_token, options)
        cid = session_id.encode()
        return _opening(lambda cfg, out, _c: _lib.fbup_resume_session_reader(
            cfg, length, read, None, cid, out), keep, app_id, access_token, options)

    @classmethod
    def create(cls, path: PathLike, *, app_id: Union[int, str], access_token: str,
               **options: "Unpack[Options]") -> "Session":
        """Checks the file and creates a Graph upload session for it. A missing file
        is a ``MissingFileError`` (a ``FileNotFoundError``)."""
        return cls._file(path, app_id, access_token, options).run()

    @classmethod
    async def create_async(cls, path: PathLike, *, app_id: Union[int, str], access_token: str,
                           **options: "Unpack[Options]") -> "Session":
        """:meth:`create` for asyncio: cancelling the task cancels the call."""
        return await cls._file(path, app_id, access_token, options).run_async()

    @classmethod
    def resume(cls, path: PathLike, session_id: str, *, app_id: Union[int, str],
               access_token: str, **options: "Unpack[Options]") -> "Session":
        """Re-opens a session saved earlier (its id, ``?sig=`` included) for the same file."""
        return cls._file(path, app_id, access_token, options, session_id).run()

    @classmethod
    async def resume_async(cls, path: PathLike, session_id: str, *, app_id: Union[int, str],
                           access_token: str, **options: "Unpack[Options]") -> "Session":
        """:meth:`resume` for asyncio: cancelling the task cancels the call."""
        return await cls._file(path, app_id, access_token, options, session_id).run_async()

    @classmethod
    def create_reader(cls, source: Source, size: Optional[int] = None, *, app_id: Union[int, str],
                      access_token: str, **options: "Unpack[Options]") -> "Session":
        """A session for bytes that are not a file: ``bytes``-like data, or a seekable
        binary file object of ``size`` bytes. ``file_name`` and ``file_type`` are
        required. An exception of the file object ends a call with ``FileError``,
        chained to it."""
        return cls._bytes(source, size, app_id, access_token, options).run()

    @classmethod
    def resume_reader(cls, source: Source, session_id: str, size: Optional[int] = None, *,
                      app_id: Union[int, str], access_token: str,
                      **options: "Unpack[Options]") -> "Session":
        """Re-opens a session saved earlier for the bytes of ``source`` (see :meth:`create_reader`)."""
        return cls._bytes(source, size, app_id, access_token, options, session_id).run()

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

    def _once_more(self, work: Callable[[], int], stopped: Callable[[], bool]) -> Callable[[], int]:
        """``work`` run once more when it ended cancelled though nothing cancelled it:
        a cancel that came as an earlier call returned waits in libfbup for the next
        call, and is not this one's (``stopped``: the call stopped itself)."""
        def run() -> int:
            cancels = self._cancels
            status = work()
            if status == Status.CANCELLED and self._cancels == cancels and not stopped():
                status = work()
            return status
        return run

    def _upload_call(self, on_progress: Optional[Callable[[int, int], object]]
                     ) -> Tuple[Callable[[], int], List[BaseException]]:
        handle = self._live()
        raised: List[BaseException] = []
        stopped: List[bool] = []

        def trampoline(_user: object, done: int, total: int) -> int:
            if on_progress is None:
                return 0
            try:
                if on_progress(done, total) is False:
                    stopped.append(True)
                    return 1
                return 0
            except BaseException as e:  # noqa: BLE001 - raised again, never returned to C
                raised.append(e)
                return 1

        callback = _PROGRESS_FN(trampoline)
        work = self._once_more(lambda: _lib.fbup_upload(handle, callback, None),
                               lambda: bool(raised or stopped))
        return work, raised

    def _finish_upload(self, outcome: Tuple[int, _Call], raised: List[BaseException]) -> str:
        if raised:
            raise raised[0]
        _raise_for(self._handle, outcome[0], outcome[1])
        return self.handle or ""

    def upload(self, on_progress: Optional[Callable[[int, int], object]] = None) -> str:
        """Uploads from Graph's offset to the end, resuming on its own; returns the handle.

        ``on_progress(done, total)`` may return False to cancel. An exception raised in
        it cancels the upload and is raised again from here. Ctrl-C (KeyboardInterrupt)
        cancels within a second, even while the network is stalled, and is raised again
        from here; the session stays resumable. The upload runs on a worker thread, so
        ``on_progress`` and ``log`` are called there.
        """
        work, raised = self._upload_call(on_progress)
        return self._finish_upload(_blocking(work, self.cancel), raised)

    async def upload_async(self, on_progress: Optional[Callable[[int, int], object]] = None) -> str:
        """:meth:`upload` for asyncio: cancelling the task (``asyncio.wait_for``,
        ``task.cancel()``) cancels the upload, which ends within a second; the session
        stays resumable. ``on_progress`` is called on the upload's thread."""
        work, raised = self._upload_call(on_progress)
        return self._finish_upload(await _awaiting(work, self.cancel), raised)

    def _offset_call(self) -> Tuple[Callable[[], int], "ctypes.c_uint64"]:
        handle = self._live()
        off = ctypes.c_uint64()
        return self._once_more(lambda: _lib.fbup_get_offset(handle, ctypes.byref(off)),
                               lambda: False), off

    def offset(self) -> int:
        """How many bytes Graph holds (step 3); Ctrl-C interrupts it."""
        work, off = self._offset_call()
        status, call = _blocking(work, self.cancel)
        _raise_for(self._handle, status, call)
        return off.value

    async def offset_async(self) -> int:
        """:meth:`offset` for asyncio: cancelling the task cancels the call."""
        work, off = self._offset_call()
        status, call = await _awaiting(work, self.cancel)
        _raise_for(self._handle, status, call)
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
        """From any thread: the running upload or offset returns with ``Status.CANCELLED``."""
        if self._handle:
            self._cancels += 1
            _lib.fbup_cancel(self._handle)

    def close(self) -> None:
        """Releases the session; safe to call twice."""
        if getattr(self, "_handle", None):
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

    The keywords are :class:`Options`.
    """

    def __init__(self, *, app_id: Union[int, str], access_token: str,
                 **options: "Unpack[Options]") -> None:
        self._handle: Optional[int] = None
        self._keep = _Callbacks()
        cfg = _config(self._keep, app_id, access_token, options)
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

    def _file(self, path: PathLike, session_id: Optional[str] = None) -> _Opening:
        client, cpath = self._live(), os.fsencode(path)
        if session_id is None:
            return _Opening(lambda k, out: _lib.fbup_client_create_session(client, cpath, k, out),
                            self._session_keep(), path)
        cid = session_id.encode()
        return _Opening(lambda k, out: _lib.fbup_client_resume_session(client, cpath, cid, k, out),
                        self._session_keep(), path)

    def create(self, path: PathLike) -> Session:
        """Checks the file and creates a Graph upload session over the client's
        connections; Ctrl-C interrupts it."""
        return self._file(path).run()

    async def create_async(self, path: PathLike) -> Session:
        """:meth:`create` for asyncio: cancelling the task cancels the call."""
        return await self._file(path).run_async()

    def resume(self, path: PathLike, session_id: str) -> Session:
        """Re-opens a session saved earlier for the same file over the client's connections."""
        return self._file(path, session_id).run()

    async def resume_async(self, path: PathLike, session_id: str) -> Session:
        """:meth:`resume` for asyncio: cancelling the task cancels the call."""
        return await self._file(path, session_id).run_async()

    def create_reader(self, source: Source, size: Optional[int] = None, *,
                      file_name: Optional[str] = None, file_type: Optional[str] = None) -> Session:
        """A session for bytes that are not a file (see :meth:`Session.create_reader`),
        told to Graph as ``file_name`` of ``file_type`` (None: the client's)."""
        keep = _Callbacks()
        length = _size(source, size)
        read = _reader(keep, source)
        client, name, typ = self._live(), _enc(file_name), _enc(file_type)
        return _Opening(lambda k, out: _lib.fbup_client_create_session_reader(
            client, name, typ, length, read, None, k, out), self._session_keep(keep)).run()

    def close(self) -> None:
        """Releases the client; safe to call twice."""
        if getattr(self, "_handle", None):
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
           on_progress: Optional[Callable[[int, int], object]] = None,
           **options: "Unpack[Options]") -> str:
    """Creates a session for ``path``, uploads it and returns Graph's handle."""
    with Session.create(path, app_id=app_id, access_token=access_token, **options) as s:
        return s.upload(on_progress)


async def upload_async(path: PathLike, *, app_id: Union[int, str], access_token: str,
                       on_progress: Optional[Callable[[int, int], object]] = None,
                       **options: "Unpack[Options]") -> str:
    """:func:`upload` for asyncio: cancelling the task cancels the create or the upload
    (within a second); the session it made stays resumable (``CallCancelledError``
    is not raised: the task's ``asyncio.CancelledError`` is)."""
    s = await Session.create_async(path, app_id=app_id, access_token=access_token, **options)
    with s:
        return await s.upload_async(on_progress)
