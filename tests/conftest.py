import http.server
import os
import threading
from functools import partial
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REAL_FIXTURES = ROOT.parent / "shared" / "fixtures" / "real"


def require_fixtures(path: Path | None = None) -> Path:
    """The real raw-layout metadata files (CI and developer machines have ../shared). Missing,
    the test skips with its reason (a user's clone has no ../shared); where
    VITMED_REQUIRE_FIXTURES is set (CI, .ci/run) it fails: a skip there would hide a broken path."""
    path = path or REAL_FIXTURES
    if path.is_dir():
        return path
    reason = f"real dataset fixtures not found at {path} (they live beside the repository in ../shared, present in CI)"
    if os.environ.get("VITMED_REQUIRE_FIXTURES"):
        pytest.fail(f"{reason}; VITMED_REQUIRE_FIXTURES is set, so this is an error, not a skip")
    pytest.skip(reason)


@pytest.fixture
def real_fixtures() -> Path:
    return require_fixtures()


@pytest.fixture
def publisher(tmp_path):
    """A directory served on 127.0.0.1, like the publishers' HTTP hosts: (directory, base URL)."""
    root = tmp_path / "publisher"
    root.mkdir()
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
