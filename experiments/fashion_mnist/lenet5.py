r"""LeNet-5 (modern variant: ReLU, max pooling) on Fashion-MNIST.

    python launch.py train --config experiments/fashion_mnist/lenet5.py --workdir runs/fashion_mnist_lenet5

Reaches about 0.91 test top-1 after 15 epochs (SGD with Nesterov momentum, cosine decay), in
a few minutes on a 2-core CPU. Published: LeNet-5-style CNNs on Fashion-MNIST score 0.89-0.91
(Xiao et al. 2017, benchmark table of zalandoresearch/fashion-mnist).
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
    config = ml_collections.ConfigDict()
    config.seed = 0
    config.batch_size = 128
    config.num_epochs = 15
    config.num_train_steps = -1  # > 0 overrides num_epochs
    config.eval_every_steps = -1  # <= 0: at the end of every epoch
    config.log_every_steps = 100
    config.checkpoint_every_steps = -1  # <= 0: at the end of every epoch
    config.keep_checkpoints = 3  # the latest N are kept

    config.dataset = ml_collections.ConfigDict()
    config.dataset.name = "fashion_mnist"
    config.dataset.data_dir = ""  # empty: $CNN_DATA_DIR, then /usr/share/datasets/fashion-mnist

    config.model = ml_collections.ConfigDict()
    config.model.name = "lenet5"

    config.optimizer = ml_collections.ConfigDict()
    config.optimizer.name = "sgd"
    config.optimizer.learning_rate = 0.05
    config.optimizer.momentum = 0.9
    config.optimizer.nesterov = True
    config.optimizer.weight_decay = 5e-4
    config.optimizer.b1 = 0.9
    config.optimizer.b2 = 0.999
    config.optimizer.eps = 1e-8

    config.schedule = ml_collections.ConfigDict()
    config.schedule.name = "cosine"
    config.schedule.warmup_epochs = 1.0
    config.schedule.boundaries_epochs = (8, 12)  # for name="step"
    config.schedule.decay_factor = 0.1  # for name="step"

    config.lock()
    return config
