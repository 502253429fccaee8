"""Every ImageNet recipe trains a few real steps on mocked data (tests/recipe_testing.py says how)."""

import pytest

from tests.recipe_testing import configs, train_a_few_steps


@pytest.mark.parametrize("path", configs("imagenet"))
def test_the_imagenet_recipe_trains_a_few_real_steps_on_mocked_data(path, tmp_path, monkeypatch):
    train_a_few_steps(path, tmp_path, monkeypatch)
