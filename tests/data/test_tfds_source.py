import os

import numpy as np
import pytest
import tensorflow_datasets as tfds

from cnn.config import load_config
from cnn.data import DatasetError, eval_batches, load, train_batches
from cnn.data.tfds_source import centre_crop, random_resized_crop
from cnn.train import train_and_evaluate
from cnn.train.metrics import read_metrics

CONFIG = os.path.join(os.path.dirname(__file__), "..", "..", "experiments", "fashion_mnist", "lenet5.py")


def test_a_few_real_training_steps_on_mocked_cifar10(tmp_path):
    config = load_config(CONFIG)
    config.dataset.name = "tfds:cifar10"
    config.update({"batch_size": 8, "num_train_steps": 6, "eval_every_steps": 3, "log_every_steps": 1,
                   "checkpoint_every_steps": 3})
    config.schedule.warmup_epochs = 0.0
    config.augment.crop_padding, config.augment.flip = 4, True
    with config.unlocked():
        config.model.c1_padding = 0  # CIFAR's 32×32 is LeNet-5's own input size
    with tfds.testing.mock_data(num_examples=20):
        final = train_and_evaluate(config, str(tmp_path))
    records = read_metrics(str(tmp_path))
    assert [r["step"] for r in records if r["split"] == "train"] == [1, 2, 3, 4, 5, 6]
    assert all(np.isfinite(r["loss"]) for r in records)
    assert final["count"] == 20 and 0.0 <= final["top1"] <= 1.0


def test_batches_are_the_stored_examples_in_pipeline_order():
    with tfds.testing.mock_data(num_examples=12):
        ds = load("tfds:cifar10")
        raw = tfds.data_source("cifar10", split="train")
        batch = next(train_batches(ds.train, 4, seed=3))
        assert batch["image"].dtype == np.uint8 and batch["image"].shape == (4, 32, 32, 3)
        order = np.sort(np.random.default_rng([3, 0]).permutation(12)[:4])
        np.testing.assert_array_equal(batch["image"], np.stack([raw[int(i)]["image"] for i in order]))
        np.testing.assert_array_equal(batch["label"], [raw[int(i)]["label"] for i in order])
        test = list(eval_batches(ds.test, 5))
        assert sum(b["mask"].sum() for b in test) == 12
    assert ds.num_classes == 10 and ds.image_shape == (32, 32, 3)
    pixels = np.stack([raw[i]["image"] for i in range(12)]).reshape(-1, 3) / 255.0
    np.testing.assert_allclose(ds.mean, pixels.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(ds.std, pixels.std(axis=0), rtol=1e-6)


def test_imagenet_style_sets_are_cropped_to_the_configured_size():
    with tfds.testing.mock_data(num_examples=6):
        ds = load("tfds:imagenet2012", image_size=24, eval_split="validation")
        train = ds.train.batch(np.arange(6), np.random.default_rng(0))
        again = ds.train.batch(np.arange(6), np.random.default_rng(0))
        other = ds.train.batch(np.arange(6), np.random.default_rng(1))
        test = ds.test.batch(np.arange(6))
    assert train["image"].shape == test["image"].shape == (6, 24, 24, 3) and ds.image_shape == (24, 24, 3)
    np.testing.assert_array_equal(train["image"], again["image"])
    assert not np.array_equal(train["image"], other["image"])


def test_variable_sizes_without_image_size_are_explained():
    with tfds.testing.mock_data(num_examples=6), pytest.raises(DatasetError, match="config.dataset.image_size"):
        load("tfds:imagenet2012", eval_split="validation")


def test_centre_crop_resizes_the_short_side_then_keeps_the_middle():
    image = np.zeros((128, 160, 1), np.uint8)
    image[:, 80:] = 255  # right half white
    out = centre_crop(image, 56)  # short side 128 -> 64, so 64×80, then the middle 56×56: columns 12..67
    assert out.shape == (56, 56, 1)
    # In the 64×80 resize the edge sits at column 40, i.e. column 28 of the crop.
    np.testing.assert_array_equal(out[:, :27, 0], 0)
    np.testing.assert_array_equal(out[:, 29:, 0], 255)


def test_random_resized_crop_keeps_between_8_and_100_percent_of_the_area():
    # Pixel values encode their column, so the crop's column span is readable from the output.
    image = np.tile(np.arange(200, dtype=np.uint8)[None, :, None], (200, 1, 3))
    spans = []
    for seed in range(30):
        out = random_resized_crop(image, 32, np.random.default_rng(seed))
        assert out.shape == (32, 32, 3)
        spans.append(int(out[..., 0].max()) - int(out[..., 0].min()) + 1)
    # Width is sqrt(area · aspect): at least sqrt(0.08 · 3/4) · 200 ≈ 49 columns, at most all 200.
    assert min(spans) >= 45 and max(spans) <= 200 and len(set(spans)) > 10


def test_a_dataset_that_was_never_prepared_says_how_to_prepare_it(tmp_path):
    with pytest.raises(DatasetError, match=r"tfds build cifar10 --file_format=array_record"):
        load("tfds:cifar10", str(tmp_path))


def test_an_unknown_tfds_name_is_refused():
    with pytest.raises(DatasetError, match="tfds:cifar1 is not a TFDS dataset"):
        load("tfds:cifar1")
