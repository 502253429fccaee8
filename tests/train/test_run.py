import os

import numpy as np
import pytest

from cnn.config import ConfigError, load_config
from cnn.train.run import build_run

CONFIG = os.path.join(os.path.dirname(__file__), "..", "..", "experiments", "fashion_mnist", "lenet5.py")


def _config(data_dir, **init):
    config = load_config(CONFIG)
    config.dataset.data_dir = str(data_dir)
    config.batch_size = 16
    config.init.update(init)
    return config


def test_the_configured_initializer_draws_the_models_kernels(tiny_data_dir, tmp_path):
    run = build_run(_config(tiny_data_dir, name="he"), str(tmp_path))
    run.checkpointer.close()
    c5 = np.asarray(run.state.params["c5"]["kernel"])  # 5×5×16×120: fan_in 400
    assert c5.std() == pytest.approx(np.sqrt(2 / 400), rel=0.05)
    assert not np.asarray(run.state.params["c5"]["bias"]).any()
    default = build_run(_config(tiny_data_dir), str(tmp_path))
    default.checkpointer.close()
    # Flax's default (LeCun normal, truncated) has a different scale: the setting is not ignored.
    assert np.asarray(default.state.params["c5"]["kernel"]).std() < 0.8 * c5.std()


def test_an_unknown_initializer_is_a_config_error(tiny_data_dir, tmp_path):
    with pytest.raises(ConfigError, match="config.init.name: unknown initializer 'kaiming'"):
        build_run(_config(tiny_data_dir, name="kaiming"), str(tmp_path))
