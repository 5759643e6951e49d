"""Typed provider options (aloe_bench.options): one boolean rule, lenient numbers, one-line errors
with suggestions, secrets never echoed."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path
from typing import Optional

import pytest
from pydantic import Field

from aloe_bench.errors import ConfigError
from aloe_bench.options import Flag, ProviderOptions, to_flag

SECRET = "sk-live-9f8e7d6c5b4a3210ffee"
DOC = Path(__file__).resolve().parents[1] / "docs" / "writing_plugins.md"


class DemoOptions(ProviderOptions):
    """Options of a made-up provider."""

    timeout: float = Field(60.0, gt=0, description="seconds per attempt")
    temperature: Optional[float] = None
    batch_size: int = Field(16, ge=1)
    verbose: Flag = False
    revision: Optional[str] = None
    api_key: Optional[str] = None
    headers: Optional[dict[str, str]] = None


def error_of(options: dict) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        DemoOptions.parse("demo", options)
    assert "\n" not in str(info.value)
    return info.value


@pytest.mark.parametrize("value", [True, 1, "true", "TRUE", " True ", "1", "yes", "Yes", "on", "ON"])
def test_flag_true(value):
    assert to_flag(value) is True
    assert DemoOptions.parse("demo", {"verbose": value}).verbose is True


@pytest.mark.parametrize("value", [False, 0, "false", "False", "0", "no", "NO", "off", " Off"])
def test_flag_false(value):
    assert to_flag(value) is False
    assert DemoOptions.parse("demo", {"verbose": value}).verbose is False


@pytest.mark.parametrize("value", ["maybe", "", "t", "y", 2, -1, 0.5, 1.0, None, [True]])
def test_flag_rejects_everything_else(value):
    with pytest.raises(ValueError):
        to_flag(value)
    err = error_of({"verbose": value})
    assert err.message == (f"Option 'verbose' of the demo provider: expected true or false (also 1/0, yes/no, "
                           f"on/off), got {value!r}.")


def test_numbers_and_strings_are_coerced_leniently():
    opts = DemoOptions.parse("demo", {"timeout": "2.5", "batch_size": "8", "temperature": 0, "revision": 2024})
    assert (opts.timeout, opts.batch_size, opts.temperature, opts.revision) == (2.5, 8, 0.0, "2024")
    assert DemoOptions.parse("demo", None) == DemoOptions()


def test_unknown_key_suggests_the_closest():
    err = error_of({"temprature": 0.2})
    assert err.message == "Unknown option 'temprature' for the demo provider. Did you mean 'temperature'?"
    assert err.hint == ("Accepted options: timeout, temperature, batch_size, verbose, revision, api_key, headers.")
    err = error_of({"colour": "red"})
    assert err.message == "Unknown option 'colour' for the demo provider."
    err = error_of({"batchsize": 2, "colour": "red", "timeout": "x"})  # unknown keys are reported first
    assert err.message == ("Unknown options 'batchsize', 'colour' for the demo provider. "
                           "Did you mean 'batch_size' for 'batchsize'?")


def test_type_errors_name_the_key_and_the_value():
    err = error_of({"timeout": "abc"})
    assert err.message == "Option 'timeout' of the demo provider: expected a number, got 'abc'."
    assert err.hint == "timeout: seconds per attempt."
    assert error_of({"timeout": 0}).message == ("Option 'timeout' of the demo provider: expected a number greater "
                                                "than 0, got 0.")
    assert error_of({"batch_size": 2.5}).message == ("Option 'batch_size' of the demo provider: expected a whole "
                                                     "number, got 2.5.")
    assert error_of({"headers": {"X-Team": [1]}}).message == ("Option 'headers.X-Team' of the demo provider: "
                                                              "expected a string, got [1].")
    assert error_of({"timeout": "nan"}).message.startswith("Option 'timeout' of the demo provider: expected a finite")
    assert "got 'xxxx" in error_of({"timeout": "x" * 500}).message and len(error_of({"timeout": "x" * 500}).message) < 200


def test_secret_values_are_never_echoed():
    err = error_of({"api_key": [SECRET]})
    assert err.message == ("Option 'api_key' of the demo provider: expected a string (the value is a secret and "
                           "is not shown).")
    err = error_of({"headers": {"Authorization": [f"Bearer {SECRET}"]}})
    assert SECRET not in str(err) and "'headers.Authorization'" in err.message
    err = error_of({"timeout": SECRET})  # a key-shaped value under an ordinary key is redacted
    assert SECRET not in str(err) and "<redacted>" in err.message
    opts = DemoOptions.parse("demo", {"api_key": SECRET})
    assert opts.api_key == SECRET and SECRET not in repr(opts) and SECRET not in str(opts)


def test_options_are_frozen_and_instances_pass_through():
    opts = DemoOptions.parse("demo", {"batch_size": 3})
    with pytest.raises(Exception):
        opts.batch_size = 4
    assert DemoOptions.parse("demo", opts) is opts
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        DemoOptions.parse("demo", ["batch_size=3"])  # type: ignore[arg-type]


def test_documented_options_class_behaves_as_the_docs_say(monkeypatch):
    text = DOC.read_text()
    block = next(b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "class ParrotOptions" in b)
    module = types.ModuleType("aloe_bench_myplugin_options")
    monkeypatch.setitem(sys.modules, module.__name__, module)  # pydantic resolves annotations there
    exec(compile(block, str(DOC), "exec"), module.__dict__)
    quoted = re.search(r"\(`(Unknown option 'questoin' [^`]*)`\)", text).group(1)
    with pytest.raises(ConfigError) as info:
        module.ParrotOptions.parse("parrot", {"questoin": False})
    assert info.value.message == " ".join(quoted.split())  # the docs wrap the quoted line
    assert module.ParrotOptions.parse("parrot", {"question": "off"}).question is False
