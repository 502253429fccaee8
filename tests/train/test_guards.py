import os
import signal
import threading

import jax.numpy as jnp
import pytest

from cnn.train.guards import LossGuard, RunInterrupted, StopSignals


def test_loss_guard_names_the_first_non_finite_step_and_forgets_what_it_checked():
    guard = LossGuard()
    for step, loss in [(1, 2.0), (2, 1.5), (3, float("nan")), (4, float("inf"))]:
        guard.add(step, jnp.float32(loss))
    step, loss = guard.first_nonfinite()
    assert step == 3 and loss != loss  # NaN
    assert guard.first_nonfinite() is None
    guard.add(5, jnp.float32(-float("inf")))
    assert guard.first_nonfinite() == (5, -float("inf"))


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_stop_signals_are_recorded_instead_of_killing_and_handlers_restored(signum):
    before = signal.getsignal(signum)
    with StopSignals() as stop:
        os.kill(os.getpid(), signum)
        assert stop.received == signum
    assert signal.getsignal(signum) is before


def test_a_second_ctrl_c_aborts_at_once():
    with StopSignals() as stop, pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.received == signal.SIGINT
        os.kill(os.getpid(), signal.SIGINT)


def test_outside_the_main_thread_signals_are_left_alone():
    before = signal.getsignal(signal.SIGTERM)
    seen = []

    def body():
        with StopSignals():
            seen.append(signal.getsignal(signal.SIGTERM))

    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    assert seen == [before]


def test_run_interrupted_says_how_to_resume():
    message = str(RunInterrupted(signal.SIGTERM, 37, "/w/checkpoints"))
    assert message == ("stopped by SIGTERM at step 37: checkpoint saved in /w/checkpoints; "
                       "rerun the same command to resume")
