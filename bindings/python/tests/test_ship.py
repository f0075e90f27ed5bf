"""What a user shipping the binding relies on: every wait interruptible (Ctrl-C and
asyncio), typed options, chained exceptions, file errors as the built-ins give them,
a small public surface."""

import asyncio
import errno
import hashlib
import io
import os
import pydoc
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

import fbup
from test_fbup import TOKEN, Emulator, make_file, opts


def interrupt_after(seconds: float) -> list:
    sent: list = []

    def fire() -> None:
        time.sleep(seconds)
        sent.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=fire, daemon=True).start()
    return sent


@pytest.fixture
def silent():
    """A listener that accepts connections and never answers."""
    ln = socket.socket()
    ln.bind(("127.0.0.1", 0))
    ln.listen(16)
    held = []

    def accept() -> None:
        while True:
            try:
                held.append(ln.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{ln.getsockname()[1]}"
    ln.close()
    for c in held:
        c.close()


class Url:
    def __init__(self, url: str) -> None:
        self.url = url


@pytest.mark.parametrize("call", ["create", "resume", "client.create", "offset"])
def test_ctrl_c_interrupts_every_call_that_waits(call, sigint, silent, tmp_path):
    path, _ = make_file(tmp_path, "a.png", 1000)
    o = opts(Url(silent), stall_timeout=60, response_timeout=60)
    emu = None
    try:
        if call == "offset":
            emu = Emulator("--fault", "offset,late=20000")
            s = fbup.Session.create(path, **opts(emu))
            run = s.offset
        elif call == "create":
            def run():
                fbup.Session.create(path, **o)
        elif call == "resume":
            def run():
                fbup.Session.resume(path, "upload:MTpx?sig=y", **o)
        else:
            client = fbup.Client(**o)

            def run():
                client.create(path)
        sent = interrupt_after(0.5)
        with pytest.raises(KeyboardInterrupt):
            run()
        waited = time.monotonic() - sent[0]
        assert waited < 1.0, f"{call}: KeyboardInterrupt {waited:.2f} s after SIGINT"
        if call == "offset":
            assert s.offset() == 0, "the cancel ended with the call it stopped"
            s.close()
    finally:
        if emu:
            emu.close()


def test_asyncio_cancellation_cancels_the_upload_and_it_resumes(tmp_path):
    emu = Emulator()
    try:
        path, sha = make_file(tmp_path, "async.mp4", 3_000_000)

        async def main() -> str:
            s = await fbup.Session.create_async(path, **opts(emu, max_send_rate=1_000_000))
            with s:
                with pytest.raises(asyncio.TimeoutError):
                    await asyncio.wait_for(s.upload_async(), 0.5)
                # The upload has ended, not run on: once the bytes already on the way
                # have landed, what Graph holds stays put.
                await asyncio.sleep(0.3)
                held = emu.session(s.id)["file_offset"]
                await asyncio.sleep(0.7)
                assert emu.session(s.id)["file_offset"] == held
                assert 0 < held < 3_000_000
                saved = s.id
            r = await fbup.Session.resume_async(path, saved, **opts(emu))
            with r:
                assert await r.offset_async() == held
                await r.upload_async()
            return saved

        saved = asyncio.run(main())
        assert emu.session(saved)["sha256"] == sha
    finally:
        emu.close()


def test_a_cancelled_task_cancels_a_create_that_nothing_answers(silent, tmp_path):
    path, _ = make_file(tmp_path, "a.png", 1000)

    async def main() -> float:
        task = asyncio.ensure_future(fbup.upload_async(path, **opts(Url(silent))))
        await asyncio.sleep(0.3)
        start = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return time.monotonic() - start

    took = asyncio.run(main())
    assert took < 1.0, f"the cancelled create ended {took:.2f} s after the cancel"
    # The cancelled call's thread ends as it hands its result over.
    deadline = time.monotonic() + 0.5
    while [t for t in threading.enumerate() if t.name == "fbup-call"]:
        assert time.monotonic() < deadline, "the cancelled create's thread goes on"
        time.sleep(0.01)


def test_options_are_checked_by_name_and_type(tmp_path):
    path, _ = make_file(tmp_path, "a.png", 1000)
    with pytest.raises(TypeError, match="unknown option 'stall_timout'.*stall_timeout"):
        fbup.Session.create(path, app_id=1, access_token=TOKEN, stall_timout=30)
    with pytest.raises(TypeError, match="stall_timeout must be a number of seconds, not str"):
        fbup.Session.create(path, app_id=1, access_token=TOKEN, stall_timeout="30")
    with pytest.raises(TypeError, match="max_send_rate must be an int"):
        fbup.Client(app_id=1, access_token=TOKEN, max_send_rate=1.5)


def test_mypy_catches_a_misspelt_or_mistyped_option(tmp_path):
    if shutil.which("mypy") is None and subprocess.run(
            [sys.executable, "-m", "mypy", "--version"], capture_output=True).returncode != 0:
        if os.environ.get("FBUP_REQUIRE_ALL") == "1":
            pytest.fail("mypy is not installed, and FBUP_REQUIRE_ALL=1")
        pytest.skip("SKIP: mypy is not installed")
    program = tmp_path / "typo.py"
    program.write_text(
        "import fbup\n"
        "fbup.Session.create('a.png', app_id=1, access_token='t', stall_timout=30)\n"
        "fbup.Session.create('a.png', app_id=1, access_token='t', max_send_rate='fast')\n")
    binding = os.path.dirname(os.path.dirname(os.path.abspath(fbup.__file__)))
    out = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(program)],
                         capture_output=True, text=True, env={**os.environ, "MYPYPATH": binding})
    assert out.returncode == 1, out.stdout + out.stderr
    assert 'Unexpected keyword argument "stall_timout"' in out.stdout, out.stdout
    assert '"max_send_rate"' in out.stdout and '"str"' in out.stdout, out.stdout


class FailingStore(io.RawIOBase):
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        self.pos = offset if whence == 0 else len(self.data) + offset
        return self.pos

    def tell(self) -> int:
        return self.pos

    def read(self, size: int = -1) -> bytes:
        if self.pos >= 1_048_576:
            raise ConnectionResetError("my store is down")
        chunk = self.data[self.pos:self.pos + size]
        self.pos += len(chunk)
        return chunk


def test_exceptions_of_the_callers_functions_are_chained(tmp_path):
    emu = Emulator("--fault", "upload,times=2,status=401,code=190,subcode=463")
    try:
        data = bytes(3_000_000)
        with fbup.Session.create_reader(FailingStore(data), **opts(
                emu, file_name="s.mp4", file_type="video/mp4", send_buffer=65536)) as s:
            with pytest.raises(fbup.FileError) as failed:
                s.upload()
        assert isinstance(failed.value.__cause__, ConnectionResetError), failed.value.__cause__

        def refresh() -> str:
            raise LookupError("the vault is locked")

        path, _ = make_file(tmp_path, "t.png", 1000)
        with fbup.Session.create(path, **opts(emu, token_refresh=refresh)) as s:
            with pytest.raises(fbup.AuthError) as refused:
                s.upload()
        assert isinstance(refused.value.__cause__, LookupError), refused.value.__cause__
    finally:
        emu.close()


def test_a_missing_file_is_the_builtins_file_not_found(tmp_path):
    missing = tmp_path / "gone.mp4"
    for make in (lambda: fbup.Session.create(missing, app_id=1, access_token=TOKEN),
                 lambda: fbup.Session.resume(missing, "upload:x?sig=y", app_id=1, access_token=TOKEN)):
        with pytest.raises(FileNotFoundError) as e:
            make()
        assert e.value.errno == errno.ENOENT and e.value.filename == str(missing)
        assert type(e.value) is fbup.MissingFileError and isinstance(e.value, fbup.FileError)
        assert "fbup.MissingFileError" in repr(type(e.value))


def test_a_small_public_surface():
    assert fbup.__version__ == fbup.version() == "0.1.0"
    with pytest.raises(TypeError, match="Session.create"):
        fbup.Session()  # type: ignore[call-arg]
    assert not hasattr(fbup, "CancelledError") and not hasattr(fbup, "TimeoutFbupError")
    assert issubclass(fbup.NetworkTimeoutError, TimeoutError)
    assert fbup.CallCancelledError is not asyncio.CancelledError
    lines = pydoc.render_doc(fbup, renderer=pydoc.plaintext).count("\n")
    assert lines < 900, f"help(fbup) is {lines} lines"


def test_a_session_made_from_data_is_byte_exact_through_asyncio(tmp_path):
    emu = Emulator("--fault", "upload,cut-at=1000000")
    try:
        data = bytes(range(256)) * 8000

        async def main() -> str:
            with fbup.Client(app_id=1234, access_token=TOKEN, graph_url=emu.url,
                             retry_base=0.005) as client:
                path, sha = make_file(tmp_path, "c.png", 300_000)
                s = await client.create_async(path)
                with s:
                    await s.upload_async()
                    assert emu.session(s.id)["sha256"] == sha
            s = fbup.Session.create_reader(data, **opts(emu, file_name="m.mp4", file_type="video/mp4"))
            with s:
                return await s.upload_async()

        handle = asyncio.run(main())
        assert handle
    finally:
        emu.close()
