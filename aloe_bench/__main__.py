"""``python -m aloe_bench`` runs the CLI."""

from aloe_bench.cli import main

main()
