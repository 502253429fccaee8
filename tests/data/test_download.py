"""Downloads of missing IDX sets, served by a real HTTP server on 127.0.0.1 (never the internet)."""

import dataclasses
import functools
import hashlib
import http.server
import os
import pathlib
import re
import socket
import threading
import types

import numpy as np
import pytest

from cnn.data import DatasetError, load, locate, sources
from cnn.data.download import NO_DOWNLOAD_ENV
from cnn.data.sources import DATA_DIR_ENV

FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves its folder and records each path asked for; under /truncated/ it announces a file's
    full length but sends half of it and hangs up, like a dropped connection."""

    def do_GET(self):
        self.server.requests.append(self.path)
        if not self.path.startswith("/truncated/"):
            return super().do_GET()
        data = (pathlib.Path(self.directory) / "files" / self.path.rsplit("/", 1)[-1]).read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[: len(data) // 2])
        self.close_connection = True

    def log_message(self, format, *args):
        pass


@pytest.fixture
def server(tmp_path, write_tiny_fashion_mnist):
    """An HTTP server whose /files/ holds a tiny gzipped Fashion-MNIST; /missing/ answers 404."""
    files = tmp_path / "www" / "files"
    files.mkdir(parents=True)
    write_tiny_fashion_mnist(files)
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Handler, directory=str(tmp_path / "www")))
    httpd.requests = []
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield types.SimpleNamespace(url=f"http://127.0.0.1:{httpd.server_port}", files=files, requests=httpd.requests)
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def _serve_fashion_mnist_from(monkeypatch, tmp_path, mirrors, files, wrong_sha256=()):
    """Points fashion_mnist at `mirrors` with the digests of the files in `files` (those named in
    `wrong_sha256` get a wrong one), enables downloads into $CNN_DATA_DIR and hides Debian's copy.
    Returns the folder the download goes to."""
    digests = {name: hashlib.sha256((files / name).read_bytes()).hexdigest() for name in FILES}
    for name in wrong_sha256:
        digests[name] = hashlib.sha256(b"not " + name.encode()).hexdigest()
    spec = dataclasses.replace(sources.IDX_SETS["fashion_mnist"], default_dirs=(str(tmp_path / "no_debian"),),
                               mirrors=tuple(mirrors), sha256=tuple(digests.items()))
    monkeypatch.setitem(sources.IDX_SETS, "fashion_mnist", spec)
    monkeypatch.delenv(NO_DOWNLOAD_ENV)
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "target"))
    return tmp_path / "target" / "fashion_mnist"


def _listing(folder):
    return sorted(os.listdir(folder)) if folder.exists() else []


def test_missing_set_is_downloaded_and_loads_like_the_served_files(server, tmp_path, monkeypatch):
    target = _serve_fashion_mnist_from(monkeypatch, tmp_path, [server.url + "/files/"], server.files)
    downloaded = load("fashion_mnist")
    assert _listing(target) == sorted(FILES)
    for name in FILES:
        assert (target / name).read_bytes() == (server.files / name).read_bytes()
    served = load("fashion_mnist", str(server.files))
    for split in ("train", "test"):
        a, b = getattr(downloaded, split), getattr(served, split)
        np.testing.assert_array_equal(a.images, b.images)
        np.testing.assert_array_equal(a.labels, b.labels)


@pytest.mark.parametrize("where", ["config", "env", "cache"])
def test_download_goes_where_locate_looks_first_and_is_found_there(server, tmp_path, monkeypatch, where):
    _serve_fashion_mnist_from(monkeypatch, tmp_path, [server.url + "/files/"], server.files)
    data_dir = None
    if where == "config":
        data_dir = str(tmp_path / "cfg")
        expected = tmp_path / "cfg" / "fashion_mnist"
    elif where == "env":
        expected = tmp_path / "target" / "fashion_mnist"
    else:
        monkeypatch.delenv(DATA_DIR_ENV)
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
        expected = tmp_path / "xdg" / "cnn" / "datasets" / "fashion_mnist"
    assert locate("fashion_mnist", data_dir) == str(expected)
    assert _listing(expected) == sorted(FILES)
    assert sorted(server.requests) == sorted("/files/" + name for name in FILES)
    # A second look finds the download and fetches nothing.
    assert locate("fashion_mnist", data_dir) == str(expected)
    assert len(server.requests) == len(FILES)


def test_bad_checksum_is_refused_and_leaves_nothing(server, tmp_path, monkeypatch):
    bad = "t10k-images-idx3-ubyte.gz"
    target = _serve_fashion_mnist_from(monkeypatch, tmp_path, [server.url + "/files/"], server.files,
                                       wrong_sha256=[bad])
    expected = dict(sources.IDX_SETS["fashion_mnist"].sha256)[bad]
    actual = hashlib.sha256((server.files / bad).read_bytes()).hexdigest()
    url = f"{server.url}/files/{bad}"
    with pytest.raises(DatasetError, match=rf"download failed.*{re.escape(url)} \(SHA-256 {actual}, expected {expected}\)"):
        locate("fashion_mnist")
    # Not even the files that did verify, nor a temporary file: locate must not accept a partial set.
    assert _listing(target) == []


def test_broken_transfer_leaves_nothing(server, tmp_path, monkeypatch):
    target = _serve_fashion_mnist_from(monkeypatch, tmp_path, [server.url + "/truncated/"], server.files)
    with pytest.raises(DatasetError, match=r"/truncated/\S+-ubyte\.gz \(connection closed after \d+ of \d+ bytes\)"):
        locate("fashion_mnist")
    assert _listing(target) == []


def test_failing_mirror_falls_through_to_the_next(server, tmp_path, monkeypatch):
    target = _serve_fashion_mnist_from(monkeypatch, tmp_path, [server.url + "/missing/", server.url + "/files/"],
                                       server.files)
    assert locate("fashion_mnist") == str(target)
    assert _listing(target) == sorted(FILES)
    assert sorted(server.requests) == sorted(f"/{d}/{name}" for d in ("files", "missing") for name in FILES)


def test_unreachable_server_says_how_to_get_it(tmp_path, monkeypatch, write_tiny_fashion_mnist):
    (tmp_path / "src").mkdir()
    write_tiny_fashion_mnist(tmp_path / "src")
    with socket.socket() as s:  # a port that was free a moment ago, so nothing listens on it
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    _serve_fashion_mnist_from(monkeypatch, tmp_path, [f"http://127.0.0.1:{port}/"], tmp_path / "src")
    with pytest.raises(DatasetError, match=(
            rf"fashion_mnist not found: .*download failed: could not download \S+; tried "
            rf"http://127\.0\.0\.1:{port}/\S+-ubyte\.gz \(.*[Cc]onnection refused.*"
            r"To get it, install it with `sudo apt-get install -y dataset-fashion-mnist`")):
        locate("fashion_mnist")


def test_no_download_env_never_connects(server, tmp_path, monkeypatch):
    target = _serve_fashion_mnist_from(monkeypatch, tmp_path, [server.url + "/files/"], server.files)
    monkeypatch.setenv(NO_DOWNLOAD_ENV, "1")
    with pytest.raises(DatasetError, match=r"fashion_mnist not found.*not downloaded because "
                                           r"\$CNN_NO_DOWNLOAD is set\. To get it, .*apt-get"):
        locate("fashion_mnist")
    assert server.requests == []
    assert not target.exists()


def test_checksum_table_is_well_formed():
    for name, spec in sources.IDX_SETS.items():
        assert sorted(filename for filename, _ in spec.sha256) == sorted(FILES), name
        for filename, digest in spec.sha256:
            assert re.fullmatch("[0-9a-f]{64}", digest), (name, filename)
        assert spec.mirrors and all(re.fullmatch(r"https?://\S+/", m) for m in spec.mirrors), name
    assert len({d for spec in sources.IDX_SETS.values() for _, d in spec.sha256}) == 4 * len(sources.IDX_SETS)


DEBIAN_FASHION_MNIST = pathlib.Path("/usr/share/datasets/fashion-mnist")
# The MD5s the Fashion-MNIST README publishes, and the mtime in each upstream file's gzip header.
# Debian's package keeps the upstream deflate streams but drops the stored file name and resets the
# mtime; putting both back must give the official files, whose SHA-256s the table lists.
_UPSTREAM = {
    "train-images-idx3-ubyte.gz": ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", 0x59A7E9DE),
    "train-labels-idx1-ubyte.gz": ("25c81989df183df01b3e8a0aad5dffbe", 0x59A7E9DE),
    "t10k-images-idx3-ubyte.gz": ("bef4ecab320f06d8554ea6380940ec79", 0x59A7E9F3),
    "t10k-labels-idx1-ubyte.gz": ("bb300cfdad3c16e7a12a480ee83cd310", 0x59A7E9F3),
}


def _with_upstream_header(data: bytes, filename: str, mtime: int) -> bytes:
    if data[:4] != b"\x1f\x8b\x08\x00":  # not a deflate gzip without stored name: leave as it is
        return data
    name = filename.removesuffix(".gz").encode() + b"\0"
    return b"\x1f\x8b\x08\x08" + mtime.to_bytes(4, "little") + data[8:10] + name + data[10:]


@pytest.mark.skipif(not all((DEBIAN_FASHION_MNIST / f).is_file() for f in _UPSTREAM),
                    reason="Debian's dataset-fashion-mnist is not installed")
def test_fashion_mnist_digests_match_debians_copy():
    table = dict(sources.IDX_SETS["fashion_mnist"].sha256)
    for filename, (md5, mtime) in _UPSTREAM.items():
        data = _with_upstream_header((DEBIAN_FASHION_MNIST / filename).read_bytes(), filename, mtime)
        assert hashlib.md5(data).hexdigest() == md5, filename
        assert hashlib.sha256(data).hexdigest() == table[filename], filename
