"""aloe-bench-trl: the ``sft``, ``dpo`` and ``rlpa`` trainers of ``aloe-bench train`` on TRL (+ peft,
accelerate). The entry point is :mod:`aloe_bench_trl.plugin`; everything heavy is imported when a
trainer runs."""

__version__ = "0.1.0"

from pathlib import Path

#: The accelerate configs shipped with the plugin (package data), by name.
ACCELERATE_CONFIGS = ("single_gpu", "ddp", "fsdp", "zero2", "zero3")


def accelerate_config(name: str) -> Path:
    """The path of a shipped accelerate config (:data:`ACCELERATE_CONFIGS`) for
    ``accelerate launch --config_file PATH -m aloe_bench train ...``."""
    from aloe_bench.errors import ConfigError

    if name not in ACCELERATE_CONFIGS:
        raise ConfigError(f"No accelerate config {name!r}.", f"Shipped: {', '.join(ACCELERATE_CONFIGS)}.")
    from importlib.resources import files

    return Path(str(files("aloe_bench_trl").joinpath("accelerate_configs", f"{name}.yaml")))
