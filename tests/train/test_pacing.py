"""StepPacer: the loop's bound on dispatched, unfinished train steps."""

import jax
import jax.numpy as jnp
import pytest

from cnn.train.pacing import StepPacer


class Step:
    """Stands for a dispatched step's output; records when the pacer waits on it."""

    def __init__(self, index: int, log: list[int]):
        self.index, self.log = index, log

    def block_until_ready(self):
        self.log.append(self.index)
        return self


def test_waits_on_the_step_before_the_newest():
    waited: list[int] = []
    pacer = StepPacer(ahead=1)
    assert pacer.add(Step(0, waited)) == 0 and waited == []  # the first step runs on unobserved
    for i in range(1, 5):
        assert pacer.add(Step(i, waited)) == 1
        assert waited == list(range(i))  # step i-1 finished, step i still queued
    assert pacer.drain() == 1 and waited == [0, 1, 2, 3, 4]
    assert pacer.drain() == 0


@pytest.mark.parametrize("ahead", [0, 3])
def test_ahead_bounds_the_queue(ahead):
    waited: list[int] = []
    pacer = StepPacer(ahead=ahead)
    finished = sum(pacer.add(Step(i, waited)) for i in range(10))
    assert finished == 10 - ahead and waited == list(range(10 - ahead))


def test_blocks_on_real_arrays():
    pacer = StepPacer()
    step = jax.jit(lambda x: x * 2)
    assert pacer.add(step(jnp.ones(3))) == 0
    assert pacer.add(step(jnp.ones(3))) == 1
    assert pacer.drain() == 1


def test_negative_ahead_is_refused():
    with pytest.raises(ValueError, match="ahead must be >= 0"):
        StepPacer(ahead=-1)
