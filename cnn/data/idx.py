"""Reader for the IDX format of MNIST-style datasets (http://yann.lecun.com/exdb/mnist/).

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number of
dimensions), one big-endian uint32 per dimension, then the values in C order.
Files may be gzipped; that is detected from the content, not the name.
"""

from __future__ import annotations

import gzip
import os
import zlib

import numpy as np

_GZIP_MAGIC = b"\x1f\x8b"
# Type codes of the IDX format, mapped to big-endian numpy dtypes.
_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


class IdxFormatError(ValueError):
    """An IDX file is missing, truncated or not in the IDX format."""


def _read_bytes(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise IdxFormatError(f"{path}: file not found") from None
    if raw[:2] != _GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as e:
        raise IdxFormatError(f"{path}: damaged gzip stream ({e}); the download is incomplete or corrupt") from None


def read_idx(path: str | os.PathLike, ndim: int | None = None) -> np.ndarray:
    """Returns the array stored in the IDX file at `path` (raw or gzipped).

    Raises IdxFormatError naming the file when the magic number, the number of
    dimensions (if `ndim` is given) or the amount of data does not match.
    """
    path = os.fspath(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise IdxFormatError(f"{path}: {len(data)} bytes, too short for an IDX header")
    zero, type_code, file_ndim = int.from_bytes(data[:2], "big"), data[2], data[3]
    if zero != 0 or type_code not in _DTYPES:
        raise IdxFormatError(
            f"{path}: bad magic number 0x{data[:4].hex()}, expected 0x0000TTNN with type TT in "
            f"{sorted(hex(t) for t in _DTYPES)}; this is not an IDX file"
        )
    if ndim is not None and file_ndim != ndim:
        raise IdxFormatError(f"{path}: holds a {file_ndim}-dimensional array, expected {ndim} dimensions")
    header_size = 4 + 4 * file_ndim
    if len(data) < header_size:
        raise IdxFormatError(f"{path}: truncated header ({len(data)} of {header_size} bytes)")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(file_ndim))
    dtype = _DTYPES[type_code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    found = len(data) - header_size
    if found != expected:
        what = "truncated" if found < expected else "has trailing bytes"
        raise IdxFormatError(
            f"{path}: {what}: header declares shape {shape} ({expected} bytes of data), found {found} bytes"
        )
    return np.frombuffer(data, dtype=dtype, offset=header_size).reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path: str | os.PathLike, array: np.ndarray, compress: bool | None = None) -> None:
    """Writes `array` as an IDX file; gzipped when `compress` is true or the name ends in .gz."""
    path = os.fspath(path)
    codes = {dtype.newbyteorder("="): code for code, dtype in _DTYPES.items()}
    array = np.asarray(array)
    if array.dtype not in codes:
        raise ValueError(f"IDX cannot store dtype {array.dtype}; use one of {sorted(map(str, codes))}")
    code = codes[array.dtype]
    header = bytes([0, 0, code, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    payload = header + array.astype(_DTYPES[code]).tobytes()
    if compress if compress is not None else path.endswith(".gz"):
        payload = gzip.compress(payload)
    with open(path, "wb") as f:
        f.write(payload)
