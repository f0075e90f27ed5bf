"""The Python binding against the emulator. Each test starts the emulator it needs: the
`fbup-emulator` binary named by FBUP_EMULATOR, else the one cargo built in the
repository's target/ (`cargo build -p fbup-emulator`)."""

import hashlib
import json
import os
import pathlib
import signal
import subprocess
import threading
import time
import urllib.request

import pytest

import fbup

ROOT = pathlib.Path(__file__).resolve().parents[3]
TOKEN = "EAApython-test-token"


def emulator_binary() -> str:
    named = os.environ.get("FBUP_EMULATOR")
    if named:
        return named
    for profile in ("debug", "release"):
        path = ROOT / "target" / profile / "fbup-emulator"
        if path.exists():
            return str(path)
    pytest.fail("no fbup-emulator binary: run `cargo build -p fbup-emulator` or set FBUP_EMULATOR")


class Emulator:
    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([emulator_binary(), "--port", "0", *args],
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("fbup-emulator listening on "), line
        self.url = line.split()[-1]

    def sessions(self, ca=None):
        import ssl
        ctx = ssl.create_default_context(cafile=ca) if ca else None
        with urllib.request.urlopen(f"{self.url}/_emulator/sessions", context=ctx) as r:
            return json.load(r)

    def session(self, session_id: str, ca=None):
        return next(s for s in self.sessions(ca) if s["id"] == session_id)

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait()


@pytest.fixture
def graph():
    """An emulator that cuts the first upload at 1 MB."""
    emu = Emulator("--fault", "upload,cut-at=1000000")
    yield emu
    emu.close()


def make_file(tmp_path, name: str, size: int):
    data = bytes((i * 13 + (i >> 10)) % 256 for i in range(size))
    path = tmp_path / name
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


def opts(graph, **more):
    return dict(app_id=1234, access_token=TOKEN, graph_url=graph.url, retry_base=0.005, **more)


def test_upload_with_a_cut_is_byte_exact(graph, tmp_path):
    path, sha = make_file(tmp_path, "cut.mp4", 3_000_000)
    seen = []
    with fbup.Session.create(path, **opts(graph)) as s:  # a path-like and an int app id
        handle = s.upload(lambda done, total: seen.append((done, total)))
        assert graph.session(s.id)["sha256"] == sha
        assert s.handle == handle
        assert s.offset() == 3_000_000
    assert "\n" in handle, "video handles are several joined by newlines"
    assert seen[-1] == (3_000_000, 3_000_000)
    assert all(a[0] <= b[0] for a, b in zip(seen, seen[1:]))


def test_an_exception_in_progress_cancels_and_is_raised_then_resume(graph, tmp_path):
    path, sha = make_file(tmp_path, "doc.pdf", 2_000_000)

    class Stop(Exception):
        pass

    def stop(done, total):
        if done > 0:
            raise Stop("from the callback")

    with fbup.Session.create(str(path), **opts(graph)) as s:
        with pytest.raises(Stop):
            s.upload(stop)
        saved = s.id
    with fbup.Session.resume(path, saved, **opts(graph)) as r:
        r.upload()
        assert graph.session(saved)["sha256"] == sha


def test_errors_carry_graph_fields_and_fit_the_builtins(graph, tmp_path):
    path, _ = make_file(tmp_path, "a.png", 1000)
    with pytest.raises(fbup.FileError) as missing:
        fbup.Session.create(tmp_path / "nope.png", **opts(graph))
    assert isinstance(missing.value, FileNotFoundError)
    assert missing.value.status is fbup.Status.FILE
    with pytest.raises(ValueError) as bad:
        fbup.Session.create(path, **opts(graph, file_type="text/plain; charset=utf-8"))
    assert bad.value.status == fbup.Status.ARGUMENT and bad.value.status_name == "ARGUMENT"
    with pytest.raises(ConnectionError):
        fbup.Session.create(path, app_id=1, access_token=TOKEN, graph_url="http://127.0.0.1:9",
                            max_attempts=1)
    assert isinstance(fbup.Status.AUTH, int) and fbup.Status(5) is fbup.Status.AUTH


def test_every_config_field_the_reader_the_token_refresh_the_trace_and_the_figures(graph, tmp_path):
    data = bytes(range(256)) * 8000  # 2,048,000 bytes in memory
    lines = []
    during = []
    asked = []

    def refresh():
        asked.append(1)
        return "EAArefreshed-python-token"

    with fbup.Session.create_reader(
            data, **opts(graph, file_name="mem.mp4", file_type="video/mp4", connect_timeout=5,
                         stall_timeout=10, response_timeout=10, max_retry=60, retry_cap=1,
                         max_attempts=5, token_refresh=refresh, send_buffer=32768,
                         allow_insecure_http=False, proxy=None, max_send_rate=0, state_dir=None,
                         log=lambda level, line: lines.append((level, line)),
                         log_level=fbup.LogLevel.DEBUG)) as s:
        s.upload(lambda done, total: during.append(s.info()))
        info = s.info()
        assert graph.session(s.id)["sha256"] == hashlib.sha256(data).hexdigest()
    text = "\n".join(line for _, line in lines)
    for must in ("-> POST ", "<- HTTP 200 to GET ", "connected to 127.0.0.1"):
        assert must in text, must
    assert TOKEN not in text
    assert {level for level, _ in lines} <= set(fbup.LogLevel)
    assert info.bytes_confirmed == len(data) and info.retries == 1 and info.resumes == 1
    assert info.bytes_sent > len(data) and info.requests >= 4
    assert during and during[-1].requests >= 1
    assert not asked, "no token was refused"


def test_a_file_object_is_a_source_too(graph, tmp_path):
    path, sha = make_file(tmp_path, "obj.pdf", 1_500_000)
    with open(path, "rb") as f, fbup.Session.create_reader(
            f, **opts(graph, file_name="obj.pdf", file_type="application/pdf")) as s:
        s.upload()
        assert graph.session(s.id)["sha256"] == sha


def test_https_with_a_private_ca_through_a_cut(tmp_path):
    pki = tmp_path / "pki"
    emu = Emulator("--tls-generate", str(pki), "--fault", "upload,cut-at=500000")
    try:
        path, sha = make_file(tmp_path, "tls.mp4", 1_500_000)
        with fbup.Session.create(path, **opts(emu, ca_file=pki / "ca.pem")) as s:
            s.upload()
            session = emu.session(s.id, ca=str(pki / "ca.pem"))
        assert session["sha256"] == sha and session["upload_requests"] >= 2
        with pytest.raises(fbup.NetworkError) as untrusted:
            fbup.Session.create(path, **opts(emu, max_attempts=1))
        assert "certificate" in untrusted.value.message
    finally:
        emu.close()


def test_ctrl_c_during_a_stall_raises_keyboard_interrupt_within_a_second(sigint, tmp_path):
    emu = Emulator("--fault", "upload,stall=30000,after=100000")
    try:
        path, _ = make_file(tmp_path, "stall.mp4", 1_000_000)
        with fbup.Session.create(path, **opts(emu, stall_timeout=60)) as s:
            sent = []

            def interrupt():
                time.sleep(0.5)
                sent.append(time.monotonic())
                os.kill(os.getpid(), signal.SIGINT)

            threading.Thread(target=interrupt, daemon=True).start()
            with pytest.raises(KeyboardInterrupt):
                s.upload()
            waited = time.monotonic() - sent[0]
            assert waited < 1.0, f"KeyboardInterrupt {waited:.2f} s after SIGINT"
            assert s.info().bytes_confirmed < 1_000_000
    finally:
        emu.close()


def test_the_package_is_typed():
    assert (pathlib.Path(fbup.__file__).parent / "py.typed").exists()


def test_max_request_keeps_every_request_under_the_links_limit(tmp_path):
    emu = Emulator("--whole-requests-only", "--fault", "upload,cut-after=1000000,times=always")
    try:
        path, sha = make_file(tmp_path, "bounded.mp4", 3_000_000)
        with fbup.Session.create(path, **opts(emu, max_request=700_000)) as s:
            s.upload()
            held = emu.session(s.id)
        assert held["sha256"] == sha
        assert held["upload_requests"] == 5
    finally:
        emu.close()


def test_a_client_shares_one_connection_across_files(tmp_path):
    emu = Emulator()
    try:
        def connections():
            with urllib.request.urlopen(f"{emu.url}/_emulator/stats") as r:
                return json.load(r)["connections"]

        with fbup.Client(app_id=1234, access_token=TOKEN, graph_url=emu.url, retry_base=0.005) as client:
            before = connections()
            done = []
            for i in range(4):
                path, sha = make_file(tmp_path, f"c{i}.png", 150_000)
                with client.create(path) as s:
                    s.upload()
                    done.append((s.id, sha))
            data = bytes(range(256)) * 400
            with client.create_reader(data, file_name="mem.png", file_type="image/png") as s:
                s.upload()
                done.append((s.id, hashlib.sha256(data).hexdigest()))
            # The second stats request is one connection more.
            assert connections() - before == 2
        for session_id, sha in done:
            assert emu.session(session_id)["sha256"] == sha
        with pytest.raises(ValueError):
            fbup.Client(app_id="", access_token=TOKEN, graph_url=emu.url)
    finally:
        emu.close()


def test_types_beyond_the_docs_and_the_app_alias_reach_graph(tmp_path):
    """A TIFF, a WebP and a QuickTime file, with `app` as the app id: Graph decides."""
    emu = Emulator("--any-type", "--app-id", "1234")
    try:
        for name, file_type in [("scan.tif", "image/tiff"), ("photo.webp", "image/webp"),
                                ("clip.mov", "video/quicktime")]:
            path, sha = make_file(tmp_path, name, 200_000)
            with fbup.Session.create(path, app_id="app", access_token=TOKEN,
                                     graph_url=emu.url) as s:
                s.upload()
                seen = emu.session(s.id)
            assert (seen["file_type"], seen["app_id"], seen["sha256"]) == (file_type, "1234", sha)
    finally:
        emu.close()
    strict = Emulator()
    try:
        path, _ = make_file(tmp_path, "refused.webp", 1000)
        with pytest.raises(fbup.GraphError) as refused:
            fbup.Session.create(path, app_id=1234, access_token=TOKEN, graph_url=strict.url)
        assert refused.value.graph_code == 100
        assert "Param file_type must be one of {" in refused.value.message
        assert "does not take the file type image/webp" in refused.value.message
    finally:
        strict.close()
