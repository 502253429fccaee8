"""Optimizers, train state, jitted steps and the training loop."""

from cnn.train.loop import evaluate, train_and_evaluate
from cnn.train.optim import build_optimizer, build_schedule
from cnn.train.state import TrainState, create_train_state
from cnn.train.steps import eval_step, top_k_correct, train_step

__all__ = [
    "TrainState", "build_optimizer", "build_schedule", "create_train_state", "eval_step", "evaluate",
    "top_k_correct", "train_and_evaluate", "train_step",
]
