"""The Python binding against the emulator. Run through `cargo test --test bindings`,
which installs libfbup, starts the emulator (with a cut) and sets the environment."""

import hashlib
import json
import os
import urllib.request

import pytest

GRAPH = os.environ.get("FBUP_TEST_GRAPH_URL")
TOKEN = os.environ.get("FBUP_TEST_TOKEN", "")

if not GRAPH:
    pytest.skip("SKIP: FBUP_TEST_GRAPH_URL not set; run through cargo test --test bindings",
                allow_module_level=True)

import fbup  # noqa: E402


def server_sha(session_id: str) -> str:
    with urllib.request.urlopen(f"{GRAPH}/_emulator/sessions") as r:
        sessions = json.load(r)
    return next(s["sha256"] for s in sessions if s["id"] == session_id)


def make_file(tmp_path, name: str, size: int):
    data = bytes((i * 13 + (i >> 10)) % 256 for i in range(size))
    path = tmp_path / name
    path.write_bytes(data)
    return str(path), hashlib.sha256(data).hexdigest()


OPTS = dict(app_id="1234", access_token=TOKEN, graph_url=GRAPH, retry_base_ms=5)


def test_upload_with_a_cut_is_byte_exact(tmp_path):
    path, sha = make_file(tmp_path, "cut.mp4", 3_000_000)
    seen = []
    with fbup.Session.create(path, **OPTS) as s:
        handle = s.upload(lambda done, total: seen.append((done, total)))
        assert server_sha(s.id) == sha
        assert s.handle == handle
        assert s.offset() == 3_000_000
    assert "\n" in handle, "video handles are several joined by newlines"
    assert seen[-1] == (3_000_000, 3_000_000)
    assert all(a[0] <= b[0] for a, b in zip(seen, seen[1:]))


def test_an_exception_in_progress_cancels_and_is_raised_then_resume(tmp_path):
    path, sha = make_file(tmp_path, "doc.pdf", 2_000_000)

    class Stop(Exception):
        pass

    def stop(done, total):
        if done > 0:
            raise Stop("from the callback")

    with fbup.Session.create(path, **OPTS) as s:
        with pytest.raises(Stop):
            s.upload(stop)
        session_id = s.id
        assert s.handle is None
    with fbup.Session.resume(path, session_id, **OPTS) as r:
        r.upload()
        assert server_sha(session_id) == sha


def test_a_refused_token_raises_fbup_error_with_graph_fields(tmp_path):
    path, _ = make_file(tmp_path, "a.png", 100)
    opts = dict(OPTS, access_token="EAAnot-valid")
    with pytest.raises(fbup.FbupError) as e:
        fbup.upload(path, **opts)
    assert e.value.status == fbup.Status.AUTH
    assert e.value.graph_code == 190
    assert e.value.http_status == 400
    assert e.value.fbtrace_id
    assert "EAAnot-valid" not in str(e.value)


def test_bad_input_is_an_argument_error(tmp_path):
    path, _ = make_file(tmp_path, "anim.gif", 10)
    with pytest.raises(fbup.FbupError) as e:
        fbup.upload(path, **OPTS)
    assert e.value.status == fbup.Status.ARGUMENT
    assert "file type" in e.value.message


def test_version_matches_the_library():
    assert fbup.version().count(".") == 2


def test_the_trace_and_the_figures_reach_python(tmp_path):
    path, sha = make_file(tmp_path, "trace.mp4", 2_000_000)
    lines = []
    during = []
    with fbup.Session.create(path, log=lambda level, line: lines.append((level, line)),
                             log_level=fbup.LogLevel.DEBUG, **OPTS) as s:
        s.upload(lambda done, total: during.append(s.info()))
        info = s.info()
        assert server_sha(s.id) == sha
    text = "\n".join(line for _, line in lines)
    for must in ("-> POST ", "<- HTTP 200 to POST ", "connected to 127.0.0.1"):
        assert must in text, must
    assert TOKEN not in text
    assert {level for level, _ in lines} <= {1, 2, 3, 4}
    assert info.bytes_confirmed == 2_000_000 and info.requests >= 2 and info.elapsed_ms >= 0
    assert info.bytes_sent >= 2_000_000
    assert during and during[-1].requests >= 1
