r"""Initialisation of a deep plain net: N(0, 0.01²) against Xavier against He (Glorot & Bengio 2010; He et al. 2015).

    python launch.py train --config experiments/notes/initialization.py:he --workdir runs/notes/initialization/he

A VGG-style net of 7 convolutions (3×3; 2 of 16, 2 of 32, 3 of 64 channels, a 2×2 max pool after each
block) and a 128-128-10 classifier, ReLU throughout, no batch normalisation, drawn three ways: every
weight from N(0, 0.01²) (AlexNet's), Xavier/Glorot uniform (variance 2 / (fan_in + fan_out)) or He
normal (variance 2 / fan_in); biases zero. SGD with momentum 0.9 at 0.01, 5,000 Fashion-MNIST training
images, 6 epochs.
Published: with small Gaussian weights the signal shrinks layer by layer, so deep plain nets stall:
VGG trained its 11-layer net A from N(0, 0.01²) and initialised the deeper ones from it (Simonyan &
Zisserman 2015, §3.1); a 22-layer ReLU net converges with He's initialisation and stalls with Xavier's, a
30-layer one trains only with He's (He et al. 2015, Figures 2 and 3).
Measured by cnn (2-core CPU, 2026-11-24): N(0, 0.01²) never left chance (10.0% test top-1, loss 2.303
after 6 epochs); Xavier reached 78.8%, He 80.7% (50% training error after 78 steps for both). Table and
curves: README, "The notes' experiments" (generated from the workdirs).
"""

import ml_collections

from experiments.notes.base import Run, Study, base_config, small_vgg

INITS = {"gaussian": "gaussian", "xavier": "xavier", "he": "he"}

STUDY = Study(
    title="Initialisation",
    claim="small Gaussian weights stall a deep plain ReLU net; Xavier and He scale each layer so it trains "
          "(Glorot & Bengio 2010; He et al. 2015, Fig. 2-3)",
    runs=tuple(Run(name) for name in INITS),
    error_levels=(0.5, 0.25),
)


def get_config(init: str = "he") -> ml_collections.ConfigDict:
    if init not in INITS:
        raise ValueError(f"experiments/notes/initialization.py:{init}: give one of {', '.join(INITS)} after the colon")
    config = base_config("vgg11", epochs=6, train_per_class=500, learning_rate=0.01)
    small_vgg(config, ((3, 3), (3, 3), (3, 3, 3)), batch_norm=False)
    with config.unlocked():
        config.init.name = INITS[init]
        config.init.std = 0.01
    return config
