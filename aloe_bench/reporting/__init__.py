"""Reporting and publishing finished runs.

- :mod:`~aloe_bench.reporting.results`: run folders loaded for reporting (:class:`RunResult`).
- :mod:`~aloe_bench.reporting.leaderboard`: leaderboard rows and the built-in formats
  (``aloe-bench leaderboard``).
- :mod:`~aloe_bench.reporting.report`: the one-file HTML report (``aloe-bench report``).
- :mod:`~aloe_bench.reporting.plots`: AL(k) curves and heatmaps.
- :mod:`~aloe_bench.reporting.publish`: the project's results/ folder (``aloe-bench results``).
"""
