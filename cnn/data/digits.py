"""scikit-learn's 8×8 handwritten digits (`dataset.name = "digits"`): a small offline transfer target.

The 1,797 images ship inside scikit-learn, so nothing is downloaded. Pixels are integers 0..16;
they are scaled to [0, 1], optionally upsampled (e.g. to 28×28 for a LeNet-5 trained on MNIST),
and normalised by the training split's statistics like the IDX sets.
"""

from __future__ import annotations

import numpy as np

from cnn.data.sources import Dataset, DatasetError, Split

NAME = "digits"
NATIVE_SIZE = 8
NUM_TRAIN = 898  # the first half of 1,797, as in scikit-learn's example (test_size=0.5, shuffle=False)


def bilinear_matrix(in_size: int, out_size: int) -> np.ndarray:
    """(out_size, in_size) weights of 1-D linear interpolation for upsampling (out_size >= in_size).

    Same convention as `jax.image.resize(..., method="linear")`: pixel centres at half-integers
    (output pixel i samples input coordinate (i + 0.5) * in/out - 0.5), and samples beyond the
    outermost centres take the edge pixel's value.
    """
    x = np.clip((np.arange(out_size) + 0.5) * in_size / out_size - 0.5, 0, in_size - 1)
    lo = np.floor(x).astype(int)
    hi = np.minimum(lo + 1, in_size - 1)
    w = x - lo
    m = np.zeros((out_size, in_size))
    np.add.at(m, (np.arange(out_size), lo), 1 - w)
    np.add.at(m, (np.arange(out_size), hi), w)
    return m


def _upsample(images: np.ndarray, size: int) -> np.ndarray:
    # Bilinear is separable: rows then columns, as two small matrix products in numpy, so loading
    # needs no accelerator and gives the same pixels on every backend.
    m = bilinear_matrix(images.shape[1], size)
    return np.einsum("ih,nhw,jw->nij", m, images, m)


def load_digits_dataset(image_size: int = 0) -> Dataset:
    """The digits as NHWC float32 (N, S, S, 1), S = 8 or `image_size`, normalised by train statistics.

    Split deterministically as scikit-learn's "Recognizing hand-written digits" example does
    (`train_test_split(..., test_size=0.5, shuffle=False)`): the first 898 images are the training
    split, the other 899 the test split. `image_size` 0 keeps 8×8; S > 8 upsamples bilinearly
    (`bilinear_matrix`, the convention of `jax.image.resize(method="linear")`).
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise DatasetError("dataset 'digits' ships with scikit-learn, which is not installed: "
                           "`pip install scikit-learn`") from None
    if image_size and image_size < NATIVE_SIZE:
        raise DatasetError(f"config.dataset.image_size {image_size}: digits are {NATIVE_SIZE}×{NATIVE_SIZE} and are "
                           f"only upsampled; use 0 (native) or a size >= {NATIVE_SIZE}, e.g. 28 for LeNet-5")
    raw = load_digits()
    images = raw.images / 16.0  # float64 until normalised, so the statistics are exact
    if image_size:
        images = _upsample(images, image_size)
    train, test = images[:NUM_TRAIN], images[NUM_TRAIN:]
    mean, std = float(train.mean()), float(train.std())

    def normalise(x: np.ndarray) -> np.ndarray:
        return ((x - mean) / std).astype(np.float32)[..., None]

    labels = raw.target.astype(np.int32)
    class_names = tuple(str(d) for d in range(10))
    return Dataset(
        name=NAME,
        train=Split(normalise(train), labels[:NUM_TRAIN]),
        test=Split(normalise(test), labels[NUM_TRAIN:]),
        num_classes=len(class_names),
        class_names=class_names,
        mean=(mean,),
        std=(std,),
    )
