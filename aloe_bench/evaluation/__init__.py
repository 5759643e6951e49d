"""Running a benchmark: configuration, roles, the turn-synchronous engine, judging, the run
folder and its completeness.

- :mod:`~aloe_bench.evaluation.config`: :class:`EvalConfig`, every key of ``aloe-bench evaluate``.
- :mod:`~aloe_bench.evaluation.roles`: model, simulator and judge resolved from their specs.
- :mod:`~aloe_bench.evaluation.engine`: :class:`Evaluation`, the conversation engine.
- :mod:`~aloe_bench.evaluation.judging`: judging turns during a run and ``aloe-bench judge``.
- :mod:`~aloe_bench.evaluation.profiling`: profile inference during a run (``--profile-probe``, the
  profiles of ``--reply-format rlpa``) scored by a coverage judge into probes.jsonl (PF1).
- :mod:`~aloe_bench.evaluation.reply_format`: the reply formats of the model under test (``plain``,
  ``rlpa``: the policy instruction, its history, what the user and the judge see).
- :mod:`~aloe_bench.evaluation.conversations`, :mod:`~aloe_bench.evaluation.summary`,
  :mod:`~aloe_bench.evaluation.status`: conversations rebuilt from disk, the summary, complete or not.
- :mod:`~aloe_bench.evaluation.run_folder`: the run folder's files and its lock.
- :mod:`~aloe_bench.evaluation.preflight`: checks made before any model call.
"""
