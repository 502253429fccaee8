r"""SGD, momentum, RMSprop, Adam and Adagrad on one model (the notes' optimisers).

    python launch.py train --config experiments/notes/optimizers.py:adam --workdir runs/notes/optimizers/adam

LeNet-5 on the whole of Fashion-MNIST, 4 epochs, batch 128, constant learning rate, no weight decay;
each optimiser at its customary rate: SGD 0.1; SGD with momentum 0.9 at 0.01 (the same effective step,
0.01 / (1 − 0.9)); RMSprop (ρ = 0.9) 0.001; Adam (β = 0.9, 0.999) 0.001; Adagrad 0.01.
Published: Adam "compares favorably to other stochastic optimization methods" and converges faster
than SGD with Nesterov momentum, Adagrad and RMSprop on a CIFAR-10 CNN (Kingma & Ba 2015, Figure 3).
Measured by cnn (2-core CPU, 2026-11-24): test top-1 after 4 epochs SGD 88.3%, momentum 88.5%, RMSprop
88.5%, Adam 88.9%, Adagrad 85.7%; 15% training error first after 440 steps (momentum, Adam), 500
(RMSprop), 560 (SGD), 840 (Adagrad). Table and curves: README, "The notes' experiments".
"""

import ml_collections

from experiments.notes.base import Run, Study, base_config

# name: (optax optimizer, learning rate, momentum)
OPTIMIZERS = {"sgd": ("sgd", 0.1, 0.0), "momentum": ("sgd", 0.01, 0.9), "rmsprop": ("rmsprop", 1e-3, 0.0),
              "adam": ("adam", 1e-3, 0.0), "adagrad": ("adagrad", 1e-2, 0.0)}

STUDY = Study(
    title="Optimisers",
    claim="adaptive methods (Adam) converge faster than SGD, momentum, Adagrad and RMSprop on a CNN "
          "(Kingma & Ba 2015, Fig. 3)",
    runs=tuple(Run(name) for name in OPTIMIZERS),
    error_levels=(0.15, 0.1),
)


def get_config(name: str = "adam") -> ml_collections.ConfigDict:
    if name not in OPTIMIZERS:
        raise ValueError(f"experiments/notes/optimizers.py:{name}: give one of {', '.join(OPTIMIZERS)} after the colon")
    optimizer, learning_rate, momentum = OPTIMIZERS[name]
    config = base_config("lenet5", epochs=4, learning_rate=learning_rate, optimizer=optimizer)
    config.optimizer.momentum = momentum
    return config
