"""Activation maximisation: the input a network scores highest for a class or a channel, found by gradient ascent.

Simonyan, Vedaldi & Zisserman (2014, "Deep Inside Convolutional Networks", section 2) visualise a class c
by the image I* = argmax_I S_c(I) − λ‖I‖², S_c the class's logit (pre-softmax score: the softmax could
rise by pushing the other classes down instead of raising c), found by gradient ascent on the input with
the network fixed. The same ascent on the mean activation of one channel of a hidden layer shows what
that feature map responds to (the notes' "input reconstruction"; Erhan et al. 2009).

Unregularised, the ascent finds high-frequency patterns no natural image has. Yosinski, Clune, Nguyen,
Fuchs & Lipson (2015, "Understanding Neural Networks Through Deep Visualization", section 3) add priors
as operations on the image between steps; three of them are here, each off when set to 0:

    L2 decay       x ← (1 − l2)·x after every step: Simonyan's λ‖I‖² term as a decay (ascent on S − λ‖x‖² with
                   step η is this, to first order, with l2 = 2λη); bright pixels need evidence to stay bright
    jitter         the gradient is taken at the image rolled by a random (dy, dx) in [−jitter, jitter]², and
                   the step rolled back, so a pattern must score wherever it lands a few pixels off
                   (Mordvintsev et al.'s DeepDream; Mahendran & Vedaldi 2016)
    Gaussian blur  every `blur_every` steps x ← G_σ ⋆ x, which damps the high frequencies the ascent creates

The ascent starts from small Gaussian noise. Each step moves by the gradient scaled to unit RMS, so the
learning rate is a step in input units whatever the score's scale (a logit of a random network and a
ReLU map of a trained one differ by orders of magnitude); with decay the image's RMS then stays below
about learning_rate / l2. A channel that is zero (a dead ReLU) on the starting noise has no gradient and
does not move: try another seed or a larger `init_std`.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from cnn.filters import gaussian_filter
from cnn.viz.plots import plot_image_grid
from cnn.viz.probe import activations


@dataclasses.dataclass(frozen=True)
class ActivationMax:
    target: str  # "class 3" or "c3 channel 5"
    image: np.ndarray  # (H, W, C): the input found
    start_score: float  # the target's score on the starting noise
    final_score: float  # the target's score on `image`
    history: np.ndarray  # (steps,): the score after each step (on the image itself, not the jittered one)


def _score(model: nn.Module, variables: Any, layer: str | None, index: jax.Array, x: jax.Array) -> jax.Array:
    """The logit of class `index` (layer None) or the mean over positions of channel `index` of `layer`."""
    if layer is None:
        return model.apply(variables, x, train=False)[0][0, index]
    return activations(model, variables, x, [layer])[layer][0, ..., index].mean()


# Module level, and all but the shapes and the blur kernel traced, so that every class or channel of one
# model and layer, under any step size, decay, jitter or blur schedule, shares one compiled ascent.
@functools.partial(jax.jit, static_argnames=("model", "layer", "blur_sigma"))
def _ascend(variables: Any, index: jax.Array, x0: jax.Array, shifts: jax.Array, learning_rate: jax.Array,
            l2: jax.Array, blur_every: jax.Array, *, model: nn.Module, layer: str | None,
            blur_sigma: float) -> tuple[jax.Array, jax.Array, jax.Array]:
    def score(x: jax.Array) -> jax.Array:
        return _score(model, variables, layer, index, x)

    def step(i: jax.Array, carry: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
        x, history = carry
        # Rolling is a permutation, so the gradient through it is the jittered image's gradient rolled back.
        grad = jax.grad(lambda x: score(jnp.roll(x, shifts[i], axis=(1, 2))))(x)
        rms = jnp.sqrt(jnp.mean(jnp.square(grad)))
        x = (1 - l2) * (x + learning_rate * grad / jnp.maximum(rms, 1e-12))
        if blur_sigma > 0:
            x = jax.lax.cond((i + 1) % blur_every == 0, lambda x: gaussian_filter(x, blur_sigma), lambda x: x, x)
        return x, history.at[i].set(score(x))

    x, history = jax.lax.fori_loop(0, len(shifts), step, (x0, jnp.zeros(len(shifts), jnp.float32)))
    return x[0], score(x0), history


def _check_target(model: nn.Module, variables: Any, shape: tuple[int, ...], class_index: int | None,
                  layer: str | None, channel: int | None) -> tuple[int, str]:
    """The index `_score` takes and a label for the target, or a ValueError naming what is wrong."""
    if (class_index is None) == (layer is None):
        raise ValueError("give exactly one target: class_index=C for a class's logit, or layer=NAME and channel=K")
    x = jax.ShapeDtypeStruct((1, *shape), jnp.float32)
    if layer is None:
        if channel is not None:
            raise ValueError(f"channel={channel} needs a layer; for a class's logit give only class_index")
        classes = jax.eval_shape(lambda x: model.apply(variables, x, train=False)[0], x).shape[-1]
        if not 0 <= class_index < classes:
            raise ValueError(f"class_index {class_index} is out of range: {type(model).__name__} has {classes} "
                             f"classes, 0 to {classes - 1}")
        return class_index, f"class {class_index}"
    if channel is None:
        raise ValueError(f"layer {layer!r} needs channel=K, the feature map to maximise")
    channels = jax.eval_shape(lambda x: activations(model, variables, x, [layer])[layer], x).shape[-1]
    if not 0 <= channel < channels:
        raise ValueError(f"channel {channel} is out of range: layer {layer!r} has {channels} channels, "
                         f"0 to {channels - 1}")
    return channel, f"{layer} channel {channel}"


def activation_maximization(model: nn.Module, variables: Any, input_shape: Sequence[int], *,
                            class_index: int | None = None, layer: str | None = None, channel: int | None = None,
                            steps: int = 200, learning_rate: float = 0.05, l2: float = 0.01, jitter: int = 1,
                            blur_sigma: float = 0.5, blur_every: int = 4, init_std: float = 0.1,
                            seed: int = 0) -> ActivationMax:
    """The input of `input_shape` (H, W, C) that gradient ascent finds for class `class_index`'s logit, or for
    the mean activation of `channel` of `layer` (a tap name or module path, as `cnn.viz.probe` takes them).

    `steps` ascent steps of `learning_rate` (input units, the gradient scaled to unit RMS) from Gaussian noise
    of std `init_std`; `l2`, `jitter` and `blur_sigma` (applied every `blur_every` steps) are the regularisers
    of the module docstring, 0 to turn one off. Deterministic given `seed`.
    """
    shape = tuple(int(n) for n in input_shape)
    if len(shape) != 3:
        raise ValueError(f"input_shape must be (height, width, channels), got {input_shape}")
    if steps < 1 or jitter < 0 or blur_every < 1 or not 0 <= l2 < 1:
        raise ValueError(f"need steps >= 1, jitter >= 0, blur_every >= 1 and 0 <= l2 < 1; got steps={steps}, "
                         f"jitter={jitter}, blur_every={blur_every}, l2={l2}")
    index, target = _check_target(model, variables, shape, class_index, layer, channel)
    # The noise and shifts are drawn here: jax's generator would add seconds of compilation on a CPU.
    rng = np.random.default_rng(seed)
    x0 = (init_std * rng.standard_normal((1, *shape))).astype(np.float32)
    shifts = rng.integers(-jitter, jitter + 1, (steps, 2), dtype=np.int32)
    image, start, history = _ascend(variables, jnp.int32(index), x0, shifts, jnp.float32(learning_rate),
                                    jnp.float32(l2), jnp.int32(blur_every), model=model, layer=layer,
                                    blur_sigma=float(blur_sigma))
    history = np.asarray(history)
    return ActivationMax(target, np.asarray(image), float(start), float(history[-1]), history)


def plot_activation_max(results: Sequence[ActivationMax], path: str, titles: Sequence[str] | None = None,
                        title: str = "") -> str:
    """The images found, side by side, each titled by its target and its score from start to end (or by
    `titles`); writes a PNG at `path`."""
    titles = titles or [f"{r.target}\n{r.start_score:.3g} → {r.final_score:.3g}" for r in results]
    return plot_image_grid([r.image for r in results], path, titles=titles, title=title)
