import dataclasses

import numpy as np
import pytest

from cnn.data import DatasetError, load, locate, write_idx
from cnn.data import sources
from cnn.data.sources import DATA_DIR_ENV


def test_loads_normalised_nhwc_arrays(tiny_data_dir):
    ds = load("fashion_mnist", str(tiny_data_dir))
    assert ds.train.images.shape == (96, 28, 28, 1) and ds.test.images.shape == (50, 28, 28, 1)
    assert ds.train.images.dtype == np.float32 and ds.train.labels.dtype == np.int32
    # Normalised by the training statistics: zero mean, unit variance on train.
    assert abs(ds.train.images.mean()) < 1e-4 and abs(ds.train.images.std() - 1) < 1e-4
    assert ds.num_classes == 10 and ds.class_names[9] == "Ankle boot"


def test_raw_files_load_like_gzipped(tmp_path, write_tiny_fashion_mnist):
    (tmp_path / "gz").mkdir()
    (tmp_path / "raw").mkdir()
    write_tiny_fashion_mnist(tmp_path / "gz", gz=True)
    write_tiny_fashion_mnist(tmp_path / "raw", gz=False)
    a, b = load("fashion_mnist", str(tmp_path / "gz")), load("fashion_mnist", str(tmp_path / "raw"))
    np.testing.assert_array_equal(a.test.images, b.test.images)


def test_lookup_order_config_then_env(tmp_path, monkeypatch, write_tiny_fashion_mnist):
    for name in ("cfg", "env"):
        (tmp_path / name).mkdir()
        write_tiny_fashion_mnist(tmp_path / name)
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "env"))
    assert locate("fashion_mnist", str(tmp_path / "cfg")) == str(tmp_path / "cfg")
    assert locate("fashion_mnist") == str(tmp_path / "env")
    # A shared $CNN_DATA_DIR may hold one sub-folder per dataset.
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    (tmp_path / "fashion_mnist").mkdir()
    write_tiny_fashion_mnist(tmp_path / "fashion_mnist")
    assert locate("fashion_mnist") == str(tmp_path / "fashion_mnist")


def test_missing_dataset_says_where_it_looked_and_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "env"))
    spec = sources.IDX_SETS["fashion_mnist"]
    monkeypatch.setitem(sources.IDX_SETS, "fashion_mnist",
                        dataclasses.replace(spec, default_dirs=(str(tmp_path / "none"),)))
    with pytest.raises(DatasetError, match=r"fashion_mnist not found.*env.*apt-get install -y dataset-fashion-mnist"):
        load("fashion_mnist", str(tmp_path / "cfg"))


def test_unknown_dataset_suggests_name():
    with pytest.raises(DatasetError, match="unknown dataset 'fashion-mnist'. Did you mean 'fashion_mnist'"):
        load("fashion-mnist")


def test_corrupt_file_is_named_with_the_fix(tiny_data_dir):
    (tiny_data_dir / "t10k-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8bgarbage")
    with pytest.raises(DatasetError, match=r"t10k-labels-idx1-ubyte.gz: damaged gzip.*dataset-fashion-mnist"):
        load("fashion_mnist", str(tiny_data_dir))


def test_image_and_label_counts_must_agree(tiny_data_dir):
    write_idx(tiny_data_dir / "train-labels-idx1-ubyte.gz", np.zeros(95, np.uint8))
    with pytest.raises(DatasetError, match="holds 96 images but .*train-labels-idx1-ubyte.gz holds 95 labels"):
        load("fashion_mnist", str(tiny_data_dir))


def test_image_shape_is_checked(tiny_data_dir):
    write_idx(tiny_data_dir / "t10k-images-idx3-ubyte.gz", np.zeros((50, 32, 32), np.uint8))
    with pytest.raises(DatasetError, match=r"t10k-images-idx3-ubyte.gz: images are \(32, 32\)"):
        load("fashion_mnist", str(tiny_data_dir))


def test_missing_test_split_file_is_named(tiny_data_dir):
    (tiny_data_dir / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(DatasetError, match=r"t10k-images-idx3-ubyte\[.gz\] is missing"):
        load("fashion_mnist", str(tiny_data_dir))
