r"""ReLU against tanh: how much sooner a CNN with rectified units trains (Krizhevsky et al. 2012, Figure 1).

    python launch.py train --config experiments/notes/activation.py:tanh --config.optimizer.learning_rate=0.1 \
        --workdir runs/notes/activation/tanh_lr0.1

Two nets on the whole of Fashion-MNIST, each with ReLU or tanh units and nothing else changed: LeNet-5
(four hidden layers: C1, C3, C5, F6; variants `relu`, `tanh`) for 4 epochs, and a deep plain net
(`deep_relu`, `deep_tanh`): the 7 convolutions and 128-128 classifier of the initialisation study
(3×3; 2 of 16, 2 of 32, 3 of 64 channels, a 2×2 max pool after each block; nine hidden layers, no
batch norm), Xavier-initialised for both units (Glorot & Bengio derived it for tanh), for 2 epochs.
Plain SGD with momentum 0.9 at a constant learning rate, no regularisation of any kind. As in the paper,
each activation gets its own learning rate, the fastest of 0.01, 0.03 and 0.1; `python
experiments/notes/study.py --studies activation` trains all twelve runs. The paper's measure is the number
of steps until the training error first falls to 25%; the error is each 5-step log window's mean.
Published: "A four-layer convolutional neural network with ReLUs reaches a 25% training error rate on
CIFAR-10 six times faster than an equivalent network with tanh neurons" (Krizhevsky et al. 2012, Fig. 1).
Measured by cnn (2-core CPU, 2026-11-24): not reproduced on Fashion-MNIST, on either net. LeNet-5: to 25%
training error ReLU took 50 steps (at 0.03), tanh 30 (at 0.1); to 10%, 945 and 585. The deep plain net:
to 25%, ReLU 145 steps (at 0.03), tanh 50 (at 0.03); to 10%, 865 and 510; ReLU diverged at 0.1, tanh did
not. Neither net saturates its tanh units from Xavier's start, and Fashion-MNIST is easy. Table and
curves: README, "The notes' experiments" (generated from the workdirs).
"""

import ml_collections

from experiments.notes.base import Run, Study, base_config, small_vgg

UNITS = ("relu", "tanh")
NETS = {"": "LeNet-5", "deep_": "Deep plain net"}  # variant prefix: the net it trains

STUDY = Study(
    title="ReLU against tanh",
    claim="a CNN with ReLUs reaches 25% training error on CIFAR-10 six times sooner than with tanh "
          "(Krizhevsky et al. 2012, Fig. 1)",
    runs=tuple(Run(net + unit, {"optimizer.learning_rate": lr})
               for net in NETS for unit in UNITS for lr in (0.01, 0.03, 0.1)),
    error_levels=(0.25, 0.1),
)


def get_config(variant: str = "relu") -> ml_collections.ConfigDict:
    deep = variant.startswith("deep_")
    unit = variant.removeprefix("deep_")
    if unit not in UNITS:
        raise ValueError(f"experiments/notes/activation.py:{variant}: give relu, tanh, deep_relu or deep_tanh "
                         "after the colon")
    if deep:
        config = base_config("vgg11", epochs=2)
        small_vgg(config, ((3, 3), (3, 3), (3, 3, 3)), batch_norm=False)
        config.init.name = "xavier"
    else:
        config = base_config("lenet5", epochs=4)
    with config.unlocked():
        config.log_every_steps = 5  # both reach 25% error within the first hundred steps: a fine grain
        config.model.activation = unit
    return config
