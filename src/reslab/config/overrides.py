"""Command-line overrides that add keys (`+key=value`) are refused unless the key exists: Hydra accepts them and
a misspelt or unknown key would otherwise be ignored while the run's record says it was applied."""
from omegaconf import OmegaConf

from reslab.errors import ConfigError
from reslab.sweep.keys import override_key

OPEN = ("callbacks.", "logger.", "hydra.")  # named entries anyone may add (+callbacks.mine._target_=...)


def added_keys(overrides: list[str], groups) -> list[str]:
    """The keys `+key=value` overrides add, leaving out config groups (+callbacks=ema) and open mappings."""
    keys = []
    for override in overrides:
        if override.startswith("+"):
            key = override_key(override).split("@", 1)[0]
            if key not in groups and not key.startswith(OPEN):
                keys.append(key)
    return keys


def check_added(overrides: list[str], groups, compose_without) -> None:
    """ConfigError for the first `+key=value` whose key is not in the config composed without those overrides
    (a key that is there with a null value, such as trainer.profiler, may be set with + or without)."""
    added = added_keys(overrides, groups)
    if not added:
        return
    base = compose_without([o for o in overrides if not (o.startswith("+") and override_key(o) in added)])
    for key in added:
        parent, _, leaf = key.rpartition(".")
        node = OmegaConf.select(base, parent) if parent else base
        if node is None or not hasattr(node, "keys") or leaf not in node:
            where = f"{parent} has keys: {', '.join(map(str, node.keys()))}" if hasattr(node, "keys") and parent \
                else "see them with: python train.py --cfg job"
            raise ConfigError(f"+{key} is not a config key ({where})")
