"""Downloads of the MNIST-style IDX sets from their official locations, verified by SHA-256.

`sources.locate` calls `download` when no folder holds a set. The files go to the first place
`locate` searches: `<data_dir>/<name>` when the config names a data_dir, else
`$CNN_DATA_DIR/<name>`, else `$XDG_CACHE_HOME/cnn/datasets/<name>` (`~/.cache/...` by default).
Setting `$CNN_NO_DOWNLOAD` (to anything but 0) turns downloads off.

Each file is streamed into a hidden `.part` file beside its final place. Only when all four have
matched their checksums are they renamed into place, the training images last: `locate`
recognises a folder by its training images, so an interrupted or refused download never leaves
a folder it would accept.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
import tempfile
import urllib.error
import urllib.request

from tqdm.auto import tqdm

from cnn.data import sources
from cnn.data.sources import DATA_DIR_ENV, DatasetError
from cnn.paths import cache_home

NO_DOWNLOAD_ENV = "CNN_NO_DOWNLOAD"
TIMEOUT_S = 30.0
_CHUNK_BYTES = 1 << 16


class _BadTransfer(Exception):
    """A mirror sent less than it announced, or a file whose digest is not the published one."""


def downloads_disabled() -> bool:
    """Whether `$CNN_NO_DOWNLOAD` forbids downloads (any value but empty or "0")."""
    return os.environ.get(NO_DOWNLOAD_ENV, "") not in ("", "0")


def cache_dir() -> str:
    """The per-user folder for downloaded sets when neither data_dir nor `$CNN_DATA_DIR` is set."""
    return cache_home("datasets")


def target_dir(name: str, data_dir: str | None = None) -> str:
    """Where a download of set `name` goes: the first of the places `locate` searches."""
    return os.path.join(data_dir or os.environ.get(DATA_DIR_ENV) or cache_dir(), name)


def _fetch(url: str, sha256: str, folder: str, timeout: float) -> str:
    """Streams `url` into a temporary file in `folder`; returns its path if its SHA-256 is `sha256`."""
    fd, part = tempfile.mkstemp(dir=folder, prefix="." + url.rsplit("/", 1)[-1] + ".", suffix=".part")
    try:
        digest = hashlib.sha256()
        # Some servers refuse urllib's default User-Agent.
        request = urllib.request.Request(url, headers={"User-Agent": "cnn-dataset-download"})
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(request, timeout=timeout) as response:
            announced, received = response.length, 0
            with tqdm(total=announced, unit="B", unit_scale=True, unit_divisor=1024,
                      desc=url.rsplit("/", 1)[-1], file=sys.stderr, leave=False) as bar:
                while chunk := response.read(_CHUNK_BYTES):
                    out.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
        # http.client ends a read at a dropped connection without an error; say so rather than
        # leave it to the checksum.
        if announced is not None and received < announced:
            raise _BadTransfer(f"connection closed after {received} of {announced} bytes")
        if digest.hexdigest() != sha256:
            raise _BadTransfer(f"SHA-256 {digest.hexdigest()}, expected {sha256}")
    except BaseException:
        # Also on KeyboardInterrupt: nothing half-written stays behind.
        os.unlink(part)
        raise
    return part


def _why(error: Exception) -> str:
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError):
        return str(error.reason)
    return str(error) or type(error).__name__


def _fetch_from_mirrors(filename: str, sha256: str, mirrors: tuple[str, ...], folder: str,
                        timeout: float) -> str:
    """The verified temporary copy of `filename` from the first mirror that serves it intact."""
    failures = []
    for mirror in mirrors:
        url = mirror + filename
        # URLError (HTTP errors included) and timeouts are OSErrors; a wrong file counts as a
        # failed mirror too, since another may serve the right one.
        try:
            return _fetch(url, sha256, folder, timeout)
        except (_BadTransfer, http.client.HTTPException, OSError) as e:
            failures.append(f"{url} ({_why(e)})")
    raise DatasetError(f"could not download {filename}; tried {'; '.join(failures) or 'no mirror'}")


def download(name: str, folder: str, timeout: float = TIMEOUT_S) -> None:
    """Downloads the four files of IDX set `name` into `folder` from the mirrors of its `IdxSpec`.

    Raises DatasetError naming every URL tried and why it failed (HTTP status, connection
    error, or the expected and actual SHA-256); `folder` then holds none of the files.
    """
    spec = sources.IDX_SETS[name]
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        raise DatasetError(
            f"cannot create {folder} ({e.strerror}); set dataset.data_dir or ${DATA_DIR_ENV} to a writable folder"
        ) from None
    print(f"Downloading {name} into {folder}", file=sys.stderr)
    parts: dict[str, str] = {}
    try:
        for filename, sha256 in spec.sha256:
            parts[filename] = _fetch_from_mirrors(filename, sha256, spec.mirrors, folder, timeout)
    except BaseException:
        for part in parts.values():
            os.unlink(part)
        raise
    train_images = sources._FILES["train"][0]
    for filename in sorted(parts, key=lambda f: f.startswith(train_images)):
        os.replace(parts[filename], os.path.join(folder, filename))
