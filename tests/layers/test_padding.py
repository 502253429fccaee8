"""Window arithmetic against the lecture notes' cases and padding against numpy.pad."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

from cnn.layers.padding import (
    MODES,
    BorderWarning,
    output_size,
    pad,
    resolve_padding,
    same_padding,
    transposed_output_size,
)


@pytest.mark.parametrize(
    "n, k, s, p, d, expected",
    [
        (227, 11, 4, 0, 1, 55),  # AlexNet CONV1 at 227×227 (the notes, lecture 2)
        (55, 3, 2, 0, 1, 27),  # overlapping MAX POOL1
        (27, 5, 1, 2, 1, 27),  # CONV2, pad 2
        (13, 3, 1, 1, 1, 13),  # CONV3-5, pad 1
        (13, 3, 2, 0, 1, 6),  # MAX POOL3
        (32, 5, 1, 0, 1, 28),  # 32×32×3 image, 5×5×3 filter → 28×28
        (5, 3, 1, 1, 1, 5),  # zero padding (k − 1)/2 keeps the size
        (7, 3, 2, 0, 1, 3),
        (7, 3, 1, 0, 2, 3),  # dilation 2: a 3-tap kernel spans 5
        (10, 3, 1, (0, 2), 1, 10),  # asymmetric explicit padding
    ],
)
def test_output_size_matches_the_notes(n, k, s, p, d, expected):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert output_size(n, k, s, p, d) == expected


def test_the_notes_two_and_a_half_output_is_refused_when_exact():
    with pytest.raises(ValueError, match=r"\(6 \+ 0 \+ 0 − 3\)/2 \+ 1 = 2.5 is not an integer"):
        output_size(6, 3, stride=2, exact=True)


def test_a_stride_that_skips_real_pixels_warns_and_floors():
    with pytest.warns(BorderWarning, match="1 of them real input pixels"):
        assert output_size(6, 3, stride=2) == 2


def test_unread_padding_alone_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # ResNet's stem: 7×7/2 with padding 3 on 224 leaves only a padding row unread.
        assert output_size(224, 7, 2, 3) == 112
        # A 1×1/2 projection shortcut skips every other row by design, the last one included.
        assert output_size(57, 1, 2) == 29


def test_a_kernel_larger_than_the_padded_input_is_refused_with_the_numbers():
    with pytest.raises(ValueError, match=r"kernel 5 \(dilation 2: spans 9\) is larger than the padded input 6 \+ 1 \+ 1 = 8"):
        output_size(6, 5, padding=1, dilation=2)


@pytest.mark.parametrize("kwargs", [{"n": 0, "kernel": 3}, {"n": 5, "kernel": 3, "stride": 0}, {"n": 5, "kernel": 3, "padding": -1}])
def test_nonsense_arguments_are_refused(kwargs):
    with pytest.raises(ValueError, match="must be >= "):
        output_size(**kwargs)


def test_transposed_size_inverts_the_forward_size():
    for n, k, s, p, d in itertools.product((1, 4, 7), (1, 2, 3, 5), (1, 2, 3), (0, 1, 2), (1, 2)):
        for extra in range(s):
            try:
                size = transposed_output_size(n, k, s, p, d, extra)
            except ValueError:
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", BorderWarning)
                assert output_size(size, k, s, p, d) == n, (n, k, s, p, d, extra)


def test_transposed_size_formula_and_errors():
    assert transposed_output_size(4, 3, stride=2, padding=1, output_padding=1) == (4 - 1) * 2 - 2 + 3 + 1
    with pytest.raises(ValueError, match="empty output"):
        transposed_output_size(1, 1, padding=1)
    with pytest.raises(ValueError, match=r"output_padding must be in \[0, stride\) = \[0, 2\)"):
        transposed_output_size(4, 3, stride=2, output_padding=2)


def test_same_padding_gives_ceil_n_over_s_with_the_odd_pixel_last():
    for n, k, s, d in itertools.product(range(1, 12), (1, 2, 3, 4, 7), (1, 2, 3), (1, 2)):
        lo, hi = same_padding(n, k, s, d)
        assert hi - lo in (0, 1)
        assert output_size(n, k, s, (lo, hi), d) == -(-n // s)
    assert same_padding(224, 7, 2) == (2, 3)  # TensorFlow's padding for ResNet's stem


def test_resolve_padding_spellings_and_errors():
    assert resolve_padding("valid", (5, 6), (3, 3), (1, 1), (1, 1)) == [(0, 0), (0, 0)]
    assert resolve_padding(2, (5, 6), (3, 3), (1, 1), (1, 1)) == [(2, 2), (2, 2)]
    assert resolve_padding([1, (0, 2)], (5, 6), (3, 3), (1, 1), (1, 1)) == [(1, 1), (0, 2)]
    with pytest.raises(ValueError, match="'FULL' is not one of 'VALID', 'SAME'"):
        resolve_padding("FULL", (5,), (3,), (1,), (1,))
    with pytest.raises(ValueError, match="gives 1 axes but the input has 2 spatial axes"):
        resolve_padding([(1, 1)], (5, 6), (3, 3), (1, 1), (1, 1))


@pytest.mark.parametrize("mode", MODES)
def test_pad_matches_numpy_pad(mode):
    x = np.random.default_rng(0).normal(size=(2, 5, 4, 3)).astype(np.float32)
    pads = [(2, 1), (0, 3)]
    widths = [(0, 0), *pads, (0, 0)]
    if mode in ("zero", "constant"):
        expected = np.pad(x, widths, mode="constant", constant_values=0.0 if mode == "zero" else 7.5)
    else:
        expected = np.pad(x, widths, mode=mode)
    np.testing.assert_array_equal(pad(x, pads, mode, 7.5), expected)


def test_reflect_padding_wider_than_the_axis_is_refused():
    x = np.zeros((1, 3, 3, 1), np.float32)
    with pytest.raises(ValueError, match="reflect padding of \\(3, 3\\) on spatial axis 0 of size 3 needs at most 2"):
        pad(x, [(3, 3), (0, 0)], "reflect")
    with pytest.raises(ValueError, match="padding mode 'mirror' is not one of zero, constant"):
        pad(x, [(1, 1), (1, 1)], "mirror")
