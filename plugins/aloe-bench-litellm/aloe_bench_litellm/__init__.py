"""aloe-bench plugin: any API chat model through litellm, and OpenAI-compatible servers through
a lean transport of their own (``oai:``).

The ``oai`` provider (``--model oai:<served-model-name>``, :mod:`aloe_bench_litellm.oai`) talks
the OpenAI chat-completions protocol directly over aiohttp: about a tenth of litellm's client CPU
per call, no cost tracking. Its endpoint is the ``base_url`` option or ``OPENAI_API_BASE``; see
docs/transports.md for when to pick which. The rest of this docstring is about ``litellm``.

Registers the model provider ``litellm``. Every role can use it: the model under test
(``--model``), the user simulator (``--user``) and the judge (``--judge``). A spec whose prefix
names no other provider goes here whole, so ``--judge gpt-4o-mini`` and
``--judge litellm:gpt-4o-mini`` are the same.

Credentials and endpoints come from litellm's standard environment variables:

- OpenAI: ``OPENAI_API_KEY``; ``OPENAI_API_BASE`` (or ``OPENAI_BASE_URL``) for another endpoint.
- Anthropic: ``ANTHROPIC_API_KEY`` (spec ``anthropic/claude-...``); Azure: ``AZURE_API_KEY``,
  ``AZURE_API_BASE``, ``AZURE_API_VERSION``; others as documented by litellm.

Self-hosted OpenAI-compatible servers (vLLM, SGLang, TGI, llama.cpp's ``llama-server``,
LM Studio, Ollama's ``/v1``): name the model ``openai/<served-model-name>`` and point the base
URL at the server, either for all roles::

    export OPENAI_API_BASE=http://localhost:8000/v1 OPENAI_API_KEY=anything
    aloe-bench evaluate --model openai/Qwen/Qwen2-7B-Instruct --user gpt-4o --judge gpt-4o

or per role with options (``--model-option``, ``--user-option``, ``--judge-option``)::

    aloe-bench evaluate --model openai/my-model --model-option api_base=http://gpu01:8000/v1 ...

Local servers need *some* non-empty API key (``OPENAI_API_KEY=anything``). Prefer environment
variables for real keys: options end up in run.json, environment variables do not.

Options (``KEY=VALUE``, typed and checked before any request is sent; see
:class:`aloe_bench_litellm.options.LitellmOptions`): ``api_base``, ``api_key``, ``timeout``
(seconds, default 60), ``max_retries`` (default 5), ``backoff_base`` / ``backoff_cap`` (seconds,
default 0.5 / 20), ``concurrency``, ``logprobs=true`` (judge from the probabilities of the answers
1-5 where the server returns logprobs), ``top_logprobs`` (default 20).

Request parameters: a fixed list of OpenAI chat-completion parameters that litellm translates for
every provider goes to ``litellm.acompletion`` as given and overrides the run's setting for that
role: ``temperature``, ``top_p``, ``seed``, ``stop``, ``frequency_penalty``, ``presence_penalty``,
``logit_bias``, ``reasoning_effort`` (e.g. ``reasoning_effort=low``), ``verbosity``,
``response_format``, ``user``, ``service_tier``, ``prompt_cache_key``, ``thinking``,
``api_version``, ``extra_headers``, and ``extra_body`` (extra JSON fields for the server, e.g.
``extra_body='{"top_k": 20}'`` for vLLM). Any other ``litellm.acompletion`` keyword (a
provider-specific one) goes in the ``request_options`` table, which may not set what the plugin
sets itself (model, messages, token limits, retries, streaming, logprobs). Every other key is an
error suggesting the closest accepted key (``api_bse`` -> ``api_base``): a typo is never sent to
the API as a parameter the provider silently ignores.
"""

__version__ = "0.1.0"
