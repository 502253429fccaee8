"""Transfer learning: start from a trained network and fine-tune it on a new target.

- `import_keras`, `import_torchvision`: weights from Keras Applications models and torchvision state dicts;
- `Transferred` (surgery): a source network cut at a tap, with a new head for the target's classes;
- `layer_groups`: each parameter's layer group, read off the computation;
- strategies (scratch, all, freeze, fade, layer decay) as optax partitions: `group_multipliers`,
  `fine_tuning_optimizer`; `fine_tuning` builds both for a run whose config has a `transfer` section;
- linear probes per layer: `linear_probes`, `fit_softmax`, `fit_svm`, `tap_features`, and `probe_source`
  for a source run on a target dataset, trained weights against random.
"""

from cnn.transfer.groups import LayerGroups, layer_groups
from cnn.transfer.keras import import_keras
from cnn.transfer.probes import ProbeResult, fit_softmax, fit_svm, format_probe_table, linear_probes, tap_features
from cnn.transfer.strategies import STRATEGIES, fine_tuning_optimizer, group_multipliers
from cnn.transfer.surgery import Transferred
from cnn.transfer.torchvision import import_torchvision

__all__ = [
    "LayerGroups", "ProbeResult", "STRATEGIES", "Transferred", "fine_tuning_optimizer", "fit_softmax", "fit_svm",
    "format_probe_table", "group_multipliers", "import_keras", "import_torchvision", "layer_groups",
    "linear_probes", "tap_features",
]
