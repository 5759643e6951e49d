"""aloe-bench: measure and train how well a language model adapts to one user over a conversation.

Importing this package is cheap: it never imports torch, transformers, litellm or lm-eval.
"""

#: The one place the version is written: pyproject.toml reads it (``dynamic = ["version"]``), the
#: first-party plugins require ``aloe-bench`` within its minor series, and CHANGELOG.md names it.
__version__ = "0.1.0"

from aloe_bench.hookspecs import hookimpl  # noqa: E402  (re-exported for plugin authors)

__all__ = ["__version__", "hookimpl"]
