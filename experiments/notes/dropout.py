r"""Dropout on and off: less overfitting of a small training set (Srivastava et al. 2014; Hinton et al. 2012).

    python launch.py train --config experiments/notes/dropout.py:on --workdir runs/notes/dropout/on

LeNet-5 trained on 100 Fashion-MNIST images per class (1,000 in all) for 150 epochs, where it overfits,
with and without dropout (p = 0.5) on the inputs of its two fully connected layers (F6 and the output), as
AlexNet drops the inputs of its dense layers; plain SGD with momentum, constant learning rate, no weight
decay. The table compares the final training loss and the gap between training and test accuracy.
Published: dropout in AlexNet's first two fully connected layers: "Without dropout, our network exhibits
substantial overfitting. Dropout roughly doubles the number of iterations required to converge"
(Krizhevsky et al. 2012, §4.2); on MNIST, dropout lowers test error from 1.60% to 1.25% for a 3-layer net
(Srivastava et al. 2014, Table 2).
Measured by cnn (2-core CPU, 2026-11-24): the train − test gap fell from 18.8 points (off: 100.0% train,
81.2% test, training loss 0.000) to 16.1 (on: 97.4%, 81.3%, loss 0.069); test accuracy unchanged. Table and
curves: README, "The notes' experiments" (generated from the workdirs).
"""

import ml_collections

from experiments.notes.base import Run, Study, base_config

STUDY = Study(
    title="Dropout",
    claim="without dropout a network overfits; dropout narrows the gap between training and test accuracy and "
          "slows convergence (Krizhevsky et al. 2012, §4.2)",
    runs=(Run("off"), Run("on")),
)


def get_config(switch: str = "on") -> ml_collections.ConfigDict:
    if switch not in ("on", "off"):
        raise ValueError(f"experiments/notes/dropout.py:{switch}: give on or off after the colon")
    config = base_config("lenet5", epochs=150, train_per_class=100, learning_rate=0.02)
    with config.unlocked():
        config.batch_size = 100
        config.eval_every_steps = 500
        config.model.dropout = 0.5 if switch == "on" else 0.0
    return config
