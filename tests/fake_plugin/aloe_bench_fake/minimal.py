"""A plugin whose hook implementation accepts none of the hook's arguments (valid in pluggy)."""

from aloe_bench import hookimpl

CALLED = []


@hookimpl
def aloe_register_metrics():
    CALLED.append(True)
