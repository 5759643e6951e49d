"""aloe-bench plugin: any API chat model through litellm.

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

Options (``KEY=VALUE``): ``api_base``, ``api_key``, ``timeout`` (seconds, default 60),
``max_retries`` (default 5), ``backoff_base`` / ``backoff_cap`` (seconds, default 0.5 / 20),
``concurrency``, ``logprobs=true`` (judge from the probabilities of the answers 1-5 where the
server returns logprobs), ``top_logprobs`` (default 20); anything else goes to
``litellm.acompletion`` unchanged (e.g. ``reasoning_effort=low``).
"""

__version__ = "0.1.0"
