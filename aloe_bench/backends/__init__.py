"""Chat backends as the core sees them: model specs resolved to registered providers
(:mod:`~aloe_bench.backends.resolve`) and the content-addressed call cache every call goes
through (:mod:`~aloe_bench.backends.cache`)."""
