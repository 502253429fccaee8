import json
import os

import ml_collections
import pytest

from cnn.config import ConfigError, as_json, check_overrides, flat_keys, load_config, run_changing_differences


def _config():
    config = ml_collections.ConfigDict()
    config.batch_size = 128
    config.log_every_steps = 100
    config.model = ml_collections.ConfigDict({"name": "lenet5"})
    config.dataset = ml_collections.ConfigDict({"name": "fashion_mnist", "data_dir": ""})
    config.schedule = ml_collections.ConfigDict({"boundaries_epochs": (8, 12)})
    return config


def test_identical_configs_and_bookkeeping_changes_do_not_count():
    saved = as_json(_config())
    changed = _config()
    changed.log_every_steps = 1
    changed.dataset.data_dir = "/elsewhere"
    changed.keep_checkpoint_epochs = (1, 2)  # absent from the saved run: a run from before the key existed
    assert run_changing_differences(saved, _config()) == []
    assert run_changing_differences(saved, changed) == []


def test_differences_list_each_run_changing_key_with_both_values():
    saved = as_json(_config())
    changed = _config()
    changed.batch_size = 64
    changed.model.name = "alexnet"
    changed.schedule.boundaries_epochs = (8, 10)
    changed.model.width = 2  # a key the saved run did not have
    assert run_changing_differences(saved, changed) == [
        "batch_size: 128 -> 64", "model.name: 'lenet5' -> 'alexnet'", "model.width: (absent) -> 2",
        "schedule.boundaries_epochs: [8, 12] -> [8, 10]",
    ]


def test_a_run_saved_before_nonfinite_existed_resumes_as_stop_only():
    saved = as_json(_config())
    for mode, differences in (("stop", []), ("skip", ["nonfinite: 'stop' -> 'skip'"])):
        config = _config()
        config.nonfinite = mode
        assert run_changing_differences(saved, config) == differences


def test_flat_keys_and_overrides_are_checked_against_the_file(tmp_path):
    path = tmp_path / "c.py"
    path.write_text("import ml_collections\n\ndef get_config():\n"
                    "    return ml_collections.ConfigDict({'seed': 0, 'optimizer': {'learning_rate': 0.1}})\n")
    assert sorted(flat_keys(load_config(str(path)))) == ["optimizer", "optimizer.learning_rate", "seed"]
    check_overrides([f"--config={path}", "--config.optimizer.learning_rate=0.2"])
    with pytest.raises(ConfigError, match="Did you mean 'optimizer.learning_rate'"):
        check_overrides([f"--config={path}", "--config.optimizer.learnin_rate=0.2"])
    with pytest.raises(ConfigError, match="not found"):
        load_config(str(tmp_path / "missing.py"))


def test_a_run_saved_before_the_new_augmentations_existed_resumes_with_them_off():
    default = load_config(os.path.join(os.path.dirname(__file__), "..", "experiments", "fashion_mnist", "lenet5.py"))
    old = json.loads(as_json(default))
    for key in ("rotate", "brightness", "contrast", "pca_lighting", "cutout", "mixup"):
        del old["augment"][key]
    assert run_changing_differences(json.dumps(old), default) == []
    default.augment.cutout = 8
    assert run_changing_differences(json.dumps(old), default) == ["augment.cutout: 0 -> 8"]
