"""Downloads against a local HTTP server: a good file, a checksum mismatch, an interrupted
transfer resumed with a Range request, a partial file resumed by a later run."""
import hashlib
import http.server
import threading

import pytest

from vitmed.data.download import download

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB
MD5 = hashlib.md5(PAYLOAD).hexdigest()


class Handler(http.server.BaseHTTPRequestHandler):
    requests: list[tuple[str, str | None]] = []
    cut_first = {"/flaky.bin"}

    def log_message(self, *args):
        pass

    def do_GET(self):
        Handler.requests.append((self.path, self.headers.get("Range")))
        if self.path not in ("/good.bin", "/flaky.bin"):
            self.send_error(404)
            return
        start = int(self.headers["Range"].split("=")[1].rstrip("-")) if self.headers.get("Range") else 0
        body = PAYLOAD[start:]
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.path in Handler.cut_first:  # promise everything, send a third, hang up
            Handler.cut_first.discard(self.path)
            self.wfile.write(body[: len(body) // 3])
            self.wfile.flush()
            self.connection.shutdown(2)
            return
        self.wfile.write(body)


@pytest.fixture
def server():
    Handler.requests = []
    Handler.cut_first = {"/flaky.bin"}
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_good_file_is_verified_and_renamed(server, tmp_path):
    path = download(f"{server}/good.bin", tmp_path / "good.bin", md5=MD5)
    assert path.read_bytes() == PAYLOAD
    assert not (tmp_path / "good.bin.part").exists()
    download(f"{server}/good.bin", tmp_path / "good.bin", md5=MD5)  # already there: no new request
    assert len(Handler.requests) == 1


def test_checksum_mismatch_leaves_nothing_behind(server, tmp_path):
    with pytest.raises(ValueError, match=r"good.bin: MD5 mismatch, expected 0+, got " + MD5):
        download(f"{server}/good.bin", tmp_path / "good.bin", md5="0" * 32)
    assert list(tmp_path.iterdir()) == []


def test_interrupted_transfer_resumes_with_a_range_request(server, tmp_path):
    path = download(f"{server}/flaky.bin", tmp_path / "flaky.bin", md5=MD5)
    assert path.read_bytes() == PAYLOAD
    third = len(PAYLOAD) // 3
    assert Handler.requests == [("/flaky.bin", None), ("/flaky.bin", f"bytes={third}-")]


def test_partial_file_of_an_earlier_run_is_resumed(server, tmp_path):
    (tmp_path / "good.bin.part").write_bytes(PAYLOAD[:1000])
    download(f"{server}/good.bin", tmp_path / "good.bin", md5=MD5)
    assert (tmp_path / "good.bin").read_bytes() == PAYLOAD
    assert Handler.requests == [("/good.bin", "bytes=1000-")]


def test_failure_after_retries_names_the_url_and_keeps_the_partial_file(server, tmp_path):
    Handler.cut_first = {"/flaky.bin"}
    with pytest.raises(ConnectionError, match="flaky.bin: transfer failed 1 times.*rerun to resume"):
        download(f"{server}/flaky.bin", tmp_path / "flaky.bin", md5=MD5, retries=0)
    assert not (tmp_path / "flaky.bin").exists()
    assert (tmp_path / "flaky.bin.part").stat().st_size == len(PAYLOAD) // 3


def test_missing_file_is_an_http_error(server, tmp_path):
    with pytest.raises(Exception, match="404"):
        download(f"{server}/missing.bin", tmp_path / "missing.bin")
    assert not (tmp_path / "missing.bin").exists()
