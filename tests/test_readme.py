"""The README stays true: CI runs its test command, and its tables are what the code generates."""

import os
import re
import runpy

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _readme() -> str:
    with open(os.path.join(ROOT, "README.md")) as f:
        return f.read()


def _bash_blocks(text: str) -> list[str]:
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", text, flags=re.S)]


def test_ci_runs_the_readme_test_command():
    test_command = _bash_blocks(_readme())[1]
    assert "pytest" in test_command
    with open(os.path.join(ROOT, ".ci", "run")) as f:
        assert test_command in f.read().splitlines()


def test_readme_first_command_trains_the_default_experiment():
    train_command = _bash_blocks(_readme())[0]
    assert "launch.py train --config experiments/fashion_mnist/lenet5.py" in train_command
    assert os.path.isfile(os.path.join(ROOT, "experiments", "fashion_mnist", "lenet5.py"))


def test_readme_python_examples_run():
    blocks = re.findall(r"```python\n(.*?)```", _readme(), flags=re.S)
    assert len(blocks) >= 2
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})


def test_readme_tables_are_generated_from_the_code():
    tables = runpy.run_path(os.path.join(ROOT, "experiments", "tables.py"))
    text = _readme()
    assert tables["render"](text) == text, "README tables are stale: run python experiments/tables.py --write"


def test_every_config_key_of_the_default_experiment_is_documented():
    from cnn.config import flat_keys, load_config

    text = _readme()
    config = load_config(os.path.join(ROOT, "experiments", "fashion_mnist", "lenet5.py"))
    keys = flat_keys(config)
    leaves = [k for k in keys if not any(other.startswith(k + ".") for other in keys)]
    missing = [k for k in leaves if f"`{k}`" not in text and f"`{k.split('.')[-1]}`" not in text]
    assert not missing, f"README's config keys paragraph lacks {missing}"
