"""Optimizers, train state, jitted steps, checkpoints and the training loop."""

from cnn.train.checkpoint import Checkpointer, CheckpointError
from cnn.train.evaluate import evaluate, evaluate_checkpoint
from cnn.train.guards import NonFiniteLossError, RunInterrupted
from cnn.train.loop import train_and_evaluate
from cnn.train.optim import build_optimizer, build_schedule
from cnn.train.state import TrainState, create_train_state
from cnn.train.steps import eval_step, top_k_correct, train_step

__all__ = [
    "CheckpointError", "Checkpointer", "NonFiniteLossError", "RunInterrupted", "TrainState",
    "build_optimizer", "build_schedule", "create_train_state", "eval_step", "evaluate",
    "evaluate_checkpoint", "top_k_correct", "train_and_evaluate", "train_step",
]
