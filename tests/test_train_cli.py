"""The core side of `aloe-bench train` (no training library): building a trainer's config from
`--set` pairs for each kind of config class, and the errors for bad ones."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from aloe_bench.cli.train import build_train_config, parse_sets
from aloe_bench.errors import ConfigError


@dataclass
class Steps:
    steps: int = 1
    name: str = "x"


class DictTrainer:
    config_class = dict


class DataclassTrainer:
    config_class = Steps
    presets = {"long": ("ten steps", {"steps": 10})}


def test_set_pairs_are_json_when_they_can_be_and_dotted_keys_reach_tables():
    assert parse_sets(("a=1", "b.c=x", "d=[1, 2]", "e=true", "f=")) == \
        [("a", 1), ("b.c", "x"), ("d", [1, 2]), ("e", True), ("f", "")]
    assert build_train_config(DictTrainer(), "t", None, None, parse_sets(("a=1", "b.c=x", "b.d=2"))) == \
        {"a": 1, "b": {"c": "x", "d": 2}}
    with pytest.raises(ConfigError, match="expects KEY=VALUE"):
        parse_sets(("novalue",))
    with pytest.raises(ConfigError, match="'a' is not a table"):
        build_train_config(DictTrainer(), "t", None, None, [("a", 1), ("a.b", 2)])


def test_dataclass_configs_take_presets_files_and_sets_in_order(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('name = "from-file"\n', encoding="utf-8")
    built = build_train_config(DataclassTrainer(), "d", str(config), "long", [])
    assert (built.steps, built.name) == (10, "from-file")
    assert build_train_config(DataclassTrainer(), "d", str(config), "long", [("steps", 3)]).steps == 3
    with pytest.raises(ConfigError, match=r"Unknown setting\(s\) 'stepz' for trainer 'd'"):
        build_train_config(DataclassTrainer(), "d", None, None, [("stepz", 3)])
