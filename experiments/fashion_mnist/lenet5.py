r"""LeNet-5 (modern variant: ReLU, max pooling) on Fashion-MNIST.

    python launch.py train --config experiments/fashion_mnist/lenet5.py --workdir runs/fashion_mnist_lenet5

SGD with Nesterov momentum, one warm-up epoch, cosine decay over 10 epochs, label smoothing 0.1, no
augmentation. Measured (seed 0, AMD EPYC, 2 cores, 2026-11-24): 0.9119 test top-1, 0.91 first reached
at epoch 7, 30 s from the process's start (`python -m benchmarks.time_to_accuracy`, with an empty
compilation cache; it writes benchmarks/time_to_accuracy.json) and 41 s for the whole run. Label
smoothing is what makes 10 epochs enough: without it seed 1 ended at 0.9097 and 0.91 took 13 of 15
epochs; with it seeds 0, 1 and 2 reached 0.91 at epoch 7 and ended at 0.9119, 0.9113 and 0.9134.
Published: LeNet-5-style CNNs on Fashion-MNIST score about 0.89-0.91 (Xiao et al. 2017 and the
benchmark of zalandoresearch/fashion-mnist).
"""

import ml_collections


# The Fashion-MNIST benchmark table (zalandoresearch/fashion-mnist README, submitted results): a 2-conv CNN with
# max pooling, the TensorFlow tutorial's, trained for over 300 epochs.
PUBLISHED = {"top1": 0.916, "source": "2-conv CNN, Fashion-MNIST benchmark table"}


def get_config() -> ml_collections.ConfigDict:
    config = ml_collections.ConfigDict()
    config.seed = 0
    config.batch_size = 128
    config.num_epochs = 10
    config.num_train_steps = -1  # > 0 overrides num_epochs
    config.eval_every_steps = -1  # <= 0: at the end of every epoch
    config.log_every_steps = 100
    config.checkpoint_every_steps = -1  # <= 0: at the end of every epoch
    config.keep_checkpoints = 3  # the latest N are kept
    config.keep_best_checkpoints = 1  # and the best N by test top-1 (`launch.py eval --checkpoint=best`)
    # and those at the end of these epochs, for `launch.py visualize --method filter_evolution`
    config.keep_checkpoint_epochs = (1, 2, 5, 10)
    config.compute_dtype = "float32"  # or "bfloat16": forward/backward in bf16, parameters and optimizer in f32
    config.label_smoothing = 0.1
    # A NaN or inf loss: "stop" ends the run naming the step, keeping the last good checkpoint; "skip"
    # drops each update whose gradients are not finite (optax.apply_if_finite), counted as the train
    # metric skipped_updates, and still stops after cnn.train.optim.MAX_CONSECUTIVE_SKIPS in a row.
    config.nonfinite = "stop"
    config.aux_loss_weight = 0.3  # per auxiliary classifier (GoogLeNet's); models without them ignore it

    config.mesh = ml_collections.ConfigDict()
    config.mesh.data = -1  # devices on the data axis; -1: all visible devices. batch_size must divide by it

    config.dataset = ml_collections.ConfigDict()
    config.dataset.name = "fashion_mnist"
    config.dataset.data_dir = ""  # empty: $CNN_DATA_DIR, then /usr/share/datasets/fashion-mnist
    config.dataset.image_size = 0  # tfds:NAME only: 0 keeps the stored size, S crops and resizes to S×S
    config.dataset.train_split = "train"  # tfds:NAME only
    config.dataset.eval_split = "test"  # tfds:NAME only

    config.augment = ml_collections.ConfigDict()  # on device, a function of (seed, step)
    config.augment.crop_padding = 0  # pad by this much and crop back at a random offset; 0: off
    config.augment.crop_mode = "constant"  # how the crop padding is filled: constant (0), edge or reflect
    config.augment.translate = 0  # random shift of up to this many pixels; 0: off
    config.augment.flip = False  # random left-right flip
    config.augment.rotate = 0.0  # random rotation by up to this many degrees, bilinear, zero fill; 0: off
    config.augment.brightness = 0.0  # add a random delta in [-b, b] on the [0, 1] pixel scale; 0: off
    config.augment.contrast = 0.0  # scale about each channel's mean by a factor in [1 - c, 1 + c]; 0: off
    config.augment.pca_lighting = 0.0  # AlexNet's PCA colour shift, the std of α (AlexNet: 0.1); 0: off
    config.augment.cutout = 0  # zero a square of this side at a random centre (DeVries & Taylor); 0: off
    config.augment.mixup = 0.0  # mix images and labels with λ ~ Beta(α, α), α this value (Zhang et al.); 0: off

    config.model = ml_collections.ConfigDict()
    config.model.name = "lenet5"

    config.init = ml_collections.ConfigDict()
    config.init.name = "default"  # default (the model's own), gaussian, xavier, xavier_normal, he, he_uniform
    config.init.std = 0.01  # for name="gaussian"

    config.optimizer = ml_collections.ConfigDict()
    config.optimizer.name = "sgd"
    config.optimizer.learning_rate = 0.05
    config.optimizer.momentum = 0.9
    config.optimizer.nesterov = True
    config.optimizer.weight_decay = 5e-4
    config.optimizer.weight_decay_style = ""  # coupled (L2) or decoupled; "": decoupled for adamw, else coupled
    config.optimizer.clip_grad_norm = 0.0  # clip gradients to this global norm; 0: off
    config.optimizer.b1 = 0.9
    config.optimizer.b2 = 0.999
    config.optimizer.eps = 1e-8
    config.optimizer.rho = 0.9  # rmsprop
    config.optimizer.initial_accumulator_value = 0.1  # adagrad

    config.schedule = ml_collections.ConfigDict()
    config.schedule.name = "cosine"
    config.schedule.warmup_epochs = 1.0
    config.schedule.boundaries_epochs = (8, 12)  # for name="step"
    config.schedule.decay_factor = 0.1  # for name="step"
    config.schedule.decay_rate = 0.9  # for name="exponential": factor per epoch
    config.schedule.staircase = False  # for name="exponential": decay at whole epochs only

    config.lock()
    return config
