"""aloe-bench: measure and train how well a language model adapts to one user over a conversation.

Importing this package is cheap: it never imports torch, transformers, litellm or lm-eval.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("aloe-bench")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

from aloe_bench.hookspecs import hookimpl  # noqa: E402  (re-exported for plugin authors)

__all__ = ["__version__", "hookimpl"]
