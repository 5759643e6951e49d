"""``aloe-bench generate``: ALOE's preference data (tree-structured conversations written by
several models) into TRL-ready SFT and DPO files. See docs/generate.md.

This package module stays light (the CLI imports it for ``--help``): the engine is in
:mod:`~aloe_bench.generation.engine`, the configuration in :mod:`~aloe_bench.generation.config`.
"""

#: The roles of a generate run, in the order they act in a turn. Each has a backend spec
#: (``--ROLE``), backend options (``ROLE_options``), a protocol (``ROLE_protocol``) with its
#: options (``ROLE_protocol_options``) and sampling parameters (``ROLE_params``).
ROLES = ("user", "induction", "hinted", "unhinted", "pair_judge")
