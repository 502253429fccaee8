"""LeNet-5 (LeCun, Bottou, Bengio & Haffner 1998): the common modern variant and the paper's network.

Layer names follow the paper: C1 (6 maps 5×5), S2 (2×2 subsampling), C3 (16 maps 5×5),
S4, C5 (120 maps 5×5, a convolution that covers all of S4, i.e. fully connected),
F6 (84 units), then the output layer.

`lenet5`, the modern variant, uses ReLU, max pooling, full C3 connectivity and a linear softmax
head; it has 61,706 parameters for 10 classes: C1 6·(25+1)=156, C3 16·(6·25+1)=2,416,
C5 120·(16·25+1)=48,120, F6 84·121=10,164, output 10·85=850.

`lenet5_1998` is the paper's network (section II.B, appendix A), with exactly the paper's
trainable parameter counts, 60,000 in all:

    C1   6 maps 5×5 over the 32×32 input                      6·(25+1)             =    156
    S2   x = f(c · Σ_{2×2 window} a + b), one c, b per map    6·2                  =     12
    C3   16 maps 5×5, each over the S2 maps of Table I        60 connections·25+16 =  1,516
    S4   as S2                                                16·2                 =     32
    C5   120 maps 5×5 over all 16 S4 maps                     120·(16·25+1)        = 48,120
    F6   84 units                                             84·(120+1)           = 10,164
    output: Euclidean RBF units y_i = Σ_j (x_j − w_ij)², w fixed  (not trainable)      0

Every unit up to F6 squashes its weighted sum with f(a) = A tanh(S a), A = 1.7159, S = 2/3
(`cnn.layers.scaled_tanh`). In C3, Table I gives maps 0–5 three contiguous S2 maps, 6–11 four
contiguous, 12–14 four non-contiguous and 15 all six; only those 60 5×5 kernels are stored,
so the parameter count is the paper's and no masked weight exists to be trained or decayed.

The RBF parameter vectors: the paper draws each class's 84-vector by hand as a stylised 7×12
bitmap of the character (±1 pixels), a drawing not reproducible from the text. Here the codes
are the rows of the 84×84 Hadamard matrix of Paley's construction (q = 83, prime, ≡ 3 mod 4),
then their negations (up to 168 classes): ±1 as the paper's; any two of the first 84 differ in
exactly 42 of the 84 places (a code and its negation in all 84), so the classes are equidistant,
where the paper's bitmaps deliberately make confusable characters (O, o, 0) close. They are a
constant of the model, not a variable. The logits are −y, so softmax cross-entropy on them is
the paper's MAP criterion (section II.C), E = y_correct + log(e^{−j} + Σ_i e^{−y_i}), without
the "rubbish class" term e^{−j}.

Not modelled (training, not architecture): the paper's input normalisation (background −0.1,
ink 1.175, so pixels have mean ≈ 0 and variance ≈ 1) and its weight initialisation, uniform in
±2.4/F_i for fan-in F_i; weights here start at lecun_normal (std F_i^{−1/2}, as LeCun et al.'s
"Efficient BackProp" of the same year recommends for this activation) and the S2/S4
coefficients at 1/4, i.e. as the window's average.

Both LeNets register at 28×28×1 (MNIST) and pad C1's input by 2 to the paper's 32×32 field
(`c1_padding=2`; use 0 for 32×32 images); zero padding is the paper's white border only for
inputs standardised so that the background is 0.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from cnn.layers import Conv, Dropout, avg_pool, correlate, max_pool, relu, scaled_tanh
from cnn.models.registry import register

# Table I of the paper: C3 map j reads the S2 maps C3_TABLE[j].
C3_TABLE = (
    (0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (0, 4, 5), (0, 1, 5),
    (0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (0, 3, 4, 5), (0, 1, 4, 5), (0, 1, 2, 5),
    (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)  # fmt: skip

RBF_CODE_LENGTH = 84  # F6's width: the 7×12 bitmaps of the paper


def _check_s4(x: jax.Array, c1: jax.Array) -> None:
    if x.shape[1:3] != (5, 5):
        raise ValueError(
            f"LeNet-5's C5 needs 5×5 S4 maps, got {x.shape[1:3]} from input {c1.shape[1:3]} "
            f"after C1; feed 28×28 images with c1_padding=2 or 32×32 images with c1_padding=0"
        )


class LeNet5(nn.Module):
    num_classes: int = 10
    activation: Callable[[jax.Array], jax.Array] = relu
    # 2 turns a 28×28 image into the paper's 32×32 field; use 0 for 32×32 inputs.
    c1_padding: int = 2
    # Not in the paper: dropout on the inputs of F6 and of the output layer (as AlexNet's on its dense
    # layers), for the dropout experiment of experiments/notes; 0 leaves LeNet-5 as it was.
    dropout: float = 0.0

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> tuple[jax.Array, dict[str, jax.Array]]:
        taps = {}
        x = taps["c1"] = self.activation(Conv(6, (5, 5), padding=self.c1_padding, name="c1")(x))
        x = taps["s2"] = max_pool(x, 2)
        x = taps["c3"] = self.activation(Conv(16, (5, 5), name="c3")(x))
        x = taps["s4"] = max_pool(x, 2)
        _check_s4(x, taps["c1"])
        x = taps["c5"] = self.activation(Conv(120, (5, 5), name="c5")(x))
        x = self._dropout(x.reshape(x.shape[0], -1), train)
        x = taps["f6"] = self.activation(nn.Dense(84, name="f6")(x))
        logits = nn.Dense(self.num_classes, name="output")(self._dropout(x, train))
        return logits, taps

    def _dropout(self, x: jax.Array, train: bool) -> jax.Array:
        # No module at all without dropout, so summaries and tracers see the paper's layers only.
        return Dropout(self.dropout)(x, train) if self.dropout else x


class Subsampling(nn.Module):
    """LeNet's trainable subsampling: y[.., c] = coefficient_c · Σ_{k×k window} x[.., c] + bias_c.

    Non-overlapping k×k windows (stride k); two parameters per map. The squashing comes after.
    """

    window: int = 2

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        maps = x.shape[-1]
        coefficient = self.param("coefficient", nn.initializers.constant(1 / self.window**2), (maps,))
        bias = self.param("bias", nn.initializers.zeros_init(), (maps,))
        window_sum = avg_pool(x, self.window) * self.window**2
        return coefficient * window_sum + bias


class TableConv(nn.Module):
    """Partially connected 2D convolution: output map j sees only the input maps table[j].

    y[.., j] = Σ_{c ∈ table[j]} (x[.., c] ⋆ w_{c→j}) + b_j, with ⋆ the VALID cross-correlation.
    Only the connected kernels are parameters: `kernel` is (*kernel_size, Σ_j |table[j]|), the
    connections listed map by map in table order, and `bias` (len(table),). Each kernel starts at
    N(0, 1/F_j), F_j = k_h·k_w·|table[j]| the fan-in of map j.
    """

    table: Sequence[Sequence[int]]
    kernel_size: tuple[int, int] = (5, 5)

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        outputs = np.repeat(np.arange(len(self.table)), [len(inputs) for inputs in self.table])
        inputs = np.concatenate([np.asarray(inputs) for inputs in self.table])
        if inputs.max() >= x.shape[-1]:
            raise ValueError(f"{self.name}: the connection table reads map {inputs.max()}, input has {x.shape[-1]}")
        fan_in = np.prod(self.kernel_size) * np.asarray([len(self.table[j]) for j in outputs])

        def init(key, shape, dtype=jnp.float32):
            return jax.random.normal(key, shape, dtype) / np.sqrt(fan_in).astype(dtype)

        kernel = self.param("kernel", init, (*self.kernel_size, len(inputs)))
        bias = self.param("bias", nn.initializers.zeros_init(), (len(self.table),))
        # Scatter into a dense kernel whose unconnected entries are constant zeros (no gradient).
        dense = jnp.zeros((*self.kernel_size, x.shape[-1], len(self.table)), kernel.dtype)
        dense = dense.at[:, :, inputs, outputs].set(kernel)
        return correlate(x, dense) + bias


def rbf_codes(num_classes: int) -> np.ndarray:
    """(num_classes, 84) ±1 codes: the rows of Paley's 84×84 Hadamard matrix H, then those of −H.

    H = I + [[0, 1ᵀ], [−1, Q]] with Q the 83×83 Jacobsthal matrix Q[i, j] = χ(j − i), χ the
    quadratic character mod 83; H Hᵀ = 84 I, so any two of the first 84 codes differ in 42 places.
    """
    q = RBF_CODE_LENGTH - 1
    if not 1 <= num_classes <= 2 * RBF_CODE_LENGTH:
        raise ValueError(f"LeNet-5's RBF output has codes for 1 to {2 * RBF_CODE_LENGTH} classes, got {num_classes}")
    squares = {(i * i) % q for i in range(1, q)}
    chi = np.array([0] + [1 if a in squares else -1 for a in range(1, q)])
    jacobsthal = chi[(np.arange(q)[None, :] - np.arange(q)[:, None]) % q]
    skew = np.zeros((q + 1, q + 1), np.int64)
    skew[0, 1:], skew[1:, 0], skew[1:, 1:] = 1, -1, jacobsthal
    hadamard = np.eye(q + 1, dtype=np.int64) + skew
    return np.concatenate([hadamard, -hadamard])[:num_classes].astype(np.float32)


class LeNet5_1998(nn.Module):
    """LeNet-5 as in the paper: scaled tanh, trainable subsampling, Table I's C3 and RBF outputs.

    Returns logits −y_i, y_i = Σ_j (f6_j − code_ij)² the RBF unit of class i (see the module
    docstring); taps "c1" … "f6" are the squashed layer outputs.
    """

    num_classes: int = 10
    c1_padding: int = 2

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> tuple[jax.Array, dict[str, jax.Array]]:
        f = scaled_tanh
        taps = {}
        x = taps["c1"] = f(Conv(6, (5, 5), padding=self.c1_padding, name="c1")(x))
        x = taps["s2"] = f(Subsampling(name="s2")(x))
        x = taps["c3"] = f(TableConv(C3_TABLE, name="c3")(x))
        x = taps["s4"] = f(Subsampling(name="s4")(x))
        _check_s4(x, taps["c1"])
        x = taps["c5"] = f(Conv(120, (5, 5), name="c5")(x))
        x = taps["f6"] = f(nn.Dense(RBF_CODE_LENGTH, name="f6")(x.reshape(x.shape[0], -1)))
        codes = jnp.asarray(rbf_codes(self.num_classes), x.dtype)
        distances = jnp.sum(jnp.square(x[:, None, :] - codes), axis=-1)
        return -distances, taps


register("lenet5", LeNet5, input_shape=(28, 28, 1), num_classes=10,
         reference="LeCun et al. 1998, modern variant (ReLU, max pooling, full C3)")
register("lenet5_1998", LeNet5_1998, input_shape=(28, 28, 1), num_classes=10,
         reference="LeCun et al. 1998, section II.B and appendix A (C1 padded by 2 to the 32×32 field)")
