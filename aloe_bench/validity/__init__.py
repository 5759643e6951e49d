"""Measurement validity: how far the judge's scores can be trusted (docs/validity.md).

- :mod:`~aloe_bench.validity.scoresets`: score sets read for comparison (a run's scores, a
  re-scoring in ``RUN/judgements/NAME``, a human-label CSV) and their pairing turn by turn.
- :mod:`~aloe_bench.validity.agreement`: agreement between two paired score sets (exact
  agreement, Cohen's kappa, Spearman's rho, Krippendorff's ordinal alpha, bootstrap intervals
  over conversations); ``aloe-bench agreement``.
- :mod:`~aloe_bench.validity.labels`: the CSV of sampled turns people label;
  ``aloe-bench export-labels``.
- :mod:`~aloe_bench.validity.length`: the regression of score on reply length and the
  length-adjusted Average.

Nothing here is imported by ``import aloe_bench`` or ``aloe-bench --help``.
"""
