r"""Data augmentation on and off, one kind at a time and all together, on a small training set.

    python launch.py train --config experiments/notes/augmentation.py:cutout --workdir runs/notes/augmentation/cutout

LeNet-5 on 500 Fashion-MNIST images per class (5,000 in all), 60 epochs, SGD with momentum 0.9 at 0.05
with cosine decay, no weight decay; each variant turns on the on-device augmentations of `config.augment`
(cnn/data/augment.py), drawn afresh at every step:
  none         nothing
  crop_flip    2-pixel padding and a random 28×28 crop, random left-right flips (the CIFAR recipe)
  rotate       a random rotation of up to 15°
  photometric  brightness ± 0.2, contrast × [0.8, 1.2] and AlexNet's PCA lighting noise (σ = 0.1)
  cutout       a zeroed 10×10 square at a random centre (DeVries & Taylor 2017)
  mixup        images and labels mixed with λ ~ Beta(0.2, 0.2) (Zhang et al. 2018)
  all          crop_flip, rotate, photometric and cutout together
Published: label-preserving transformations "reduce overfitting"; without them AlexNet "suffers from
substantial overfitting" (Krizhevsky et al. 2012, §4.1); cutout lowers CIFAR-10 error of a ResNet-18
from 4.72% to 3.99% (DeVries & Taylor 2017, Table 1), mixup a PreAct ResNet-18's from 5.6% to 4.2%
(Zhang et al. 2018, Table 2).
Measured by cnn (2-core CPU, 2026-11-24): test top-1 none 86.0% (train − test gap +14.0 points),
crop_flip 86.6% (+3.7), rotate 85.2%, photometric 85.2%, cutout 86.8%, mixup 86.9%, all 84.4% (−2.5: it
underfits in 60 epochs). Table and curves: README, "The notes' experiments" (generated from the workdirs).
"""

import ml_collections

from experiments.notes.base import Run, Study, base_config

CROP_FLIP = {"crop_padding": 2, "flip": True}
PHOTOMETRIC = {"brightness": 0.2, "contrast": 0.2, "pca_lighting": 0.1}
VARIANTS = {
    "none": {},
    "crop_flip": CROP_FLIP,
    "rotate": {"rotate": 15.0},
    "photometric": PHOTOMETRIC,
    "cutout": {"cutout": 10},
    "mixup": {"mixup": 0.2},
    "all": {**CROP_FLIP, "rotate": 15.0, **PHOTOMETRIC, "cutout": 10},
}

STUDY = Study(
    title="Data augmentation",
    claim="label-preserving transformations of the training images reduce overfitting (Krizhevsky et al. 2012, "
          "§4.1); cutout and mixup lower CIFAR-10 error further (DeVries & Taylor 2017; Zhang et al. 2018)",
    runs=tuple(Run(name) for name in VARIANTS),
)


def get_config(variant: str = "all") -> ml_collections.ConfigDict:
    if variant not in VARIANTS:
        raise ValueError(f"experiments/notes/augmentation.py:{variant}: give one of {', '.join(VARIANTS)} "
                         "after the colon")
    config = base_config("lenet5", epochs=60, train_per_class=500)
    config.eval_every_steps = 780  # every 20 epochs of 39 steps
    config.schedule.name = "cosine"
    config.augment.update(VARIANTS[variant])
    return config
