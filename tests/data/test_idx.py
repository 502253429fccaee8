import gzip
import struct

import numpy as np
import pytest

from cnn.data.idx import IdxFormatError, read_idx, write_idx


def _hand_written_idx(images: np.ndarray) -> bytes:
    """IDX bytes built from the format's definition, independently of write_idx."""
    header = struct.pack(">BBBB", 0, 0, 0x08, images.ndim) + struct.pack(f">{images.ndim}I", *images.shape)
    return header + images.astype(np.uint8).tobytes()


@pytest.mark.parametrize("gz", [False, True])
def test_reads_raw_and_gzipped_idx(tmp_path, gz):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    payload = _hand_written_idx(images)
    path = tmp_path / ("x.idx" + (".gz" if gz else ""))
    path.write_bytes(gzip.compress(payload) if gz else payload)
    out = read_idx(path, ndim=3)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, images)


def test_write_then_read_round_trips_big_endian_types(tmp_path):
    values = np.array([[1.5, -2.25], [3.0, 1e6]], dtype=np.float32)
    write_idx(tmp_path / "f.gz", values)
    np.testing.assert_array_equal(read_idx(tmp_path / "f.gz"), values)
    raw = gzip.decompress((tmp_path / "f.gz").read_bytes())
    assert raw[:4] == b"\x00\x00\x0d\x02" and struct.unpack(">f", raw[12:16])[0] == 1.5


def test_truncated_file_names_file_and_sizes(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(_hand_written_idx(np.zeros((4, 28, 28)))[:-100])
    with pytest.raises(IdxFormatError, match=r"train-images-idx3-ubyte: truncated.*\(4, 28, 28\).*3136 bytes.*3036"):
        read_idx(path)


def test_truncated_gzip_stream_is_reported(tmp_path):
    path = tmp_path / "labels.gz"
    path.write_bytes(gzip.compress(_hand_written_idx(np.zeros(1000)))[:-30])
    with pytest.raises(IdxFormatError, match="labels.gz: damaged gzip"):
        read_idx(path)


def test_wrong_magic_is_rejected(tmp_path):
    path = tmp_path / "bad"
    path.write_bytes(b"\x12\x34\x08\x01" + b"\x00" * 20)
    with pytest.raises(IdxFormatError, match=r"bad: bad magic number 0x12340801"):
        read_idx(path)


def test_wrong_dimension_count_is_rejected(tmp_path):
    path = tmp_path / "labels"
    path.write_bytes(_hand_written_idx(np.zeros((3, 2))))
    with pytest.raises(IdxFormatError, match="labels: holds a 2-dimensional array, expected 1"):
        read_idx(path, ndim=1)


def test_trailing_bytes_are_rejected(tmp_path):
    path = tmp_path / "long"
    path.write_bytes(_hand_written_idx(np.zeros(5)) + b"\x00")
    with pytest.raises(IdxFormatError, match="long: has trailing bytes"):
        read_idx(path)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(IdxFormatError, match="nothere: file not found"):
        read_idx(tmp_path / "nothere")
