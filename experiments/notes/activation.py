r"""ReLU against tanh: how much sooner a CNN with rectified units trains (Krizhevsky et al. 2012, Figure 1).

    python launch.py train --config experiments/notes/activation.py:tanh --config.optimizer.learning_rate=0.1 \
        --workdir runs/notes/activation/tanh_lr0.1

LeNet-5 (four hidden layers: C1, C3, C5, F6) on the whole of Fashion-MNIST with ReLU or tanh units and
nothing else changed; plain SGD with momentum 0.9 at a constant learning rate, no regularisation of any
kind. As in the paper, each activation gets its own learning rate, the fastest of 0.01, 0.03 and 0.1;
`python experiments/notes/study.py --studies activation` trains all six runs. The paper's measure is the
number of steps until the training error first falls to 25%; the error is each 5-step log window's mean.
Published: "A four-layer convolutional neural network with ReLUs reaches a 25% training error rate on
CIFAR-10 six times faster than an equivalent network with tanh neurons" (Krizhevsky et al. 2012, Fig. 1).
Measured by cnn (2-core CPU, 2026-11-24): not reproduced on Fashion-MNIST. To 25% training error ReLU
took 50 steps (at 0.03), tanh 30 (at 0.1); to 10%, 945 and 585. LeNet-5 is shallow and Fashion-MNIST
easy: neither saturates. Table and curves: README, "The notes' experiments" (generated from the workdirs).
"""

import ml_collections

from experiments.notes.base import Run, Study, base_config

STUDY = Study(
    title="ReLU against tanh",
    claim="a CNN with ReLUs reaches 25% training error on CIFAR-10 six times sooner than with tanh "
          "(Krizhevsky et al. 2012, Fig. 1)",
    runs=tuple(Run(unit, {"optimizer.learning_rate": lr}) for unit in ("relu", "tanh") for lr in (0.01, 0.03, 0.1)),
    error_levels=(0.25, 0.1),
)


def get_config(unit: str = "relu") -> ml_collections.ConfigDict:
    if unit not in ("relu", "tanh"):
        raise ValueError(f"experiments/notes/activation.py:{unit}: give relu or tanh after the colon")
    config = base_config("lenet5", epochs=4)
    with config.unlocked():
        config.log_every_steps = 5  # both reach 25% error within the first hundred steps: a fine grain
        config.model.activation = unit
    return config
