"""Chat templates TRL can mask: ``{% generation %}`` markers around assistant content.

TRL's ``assistant_only_loss`` reads the assistant tokens from ``{% generation %}`` blocks of the
chat template. TRL swaps in a marked copy for the templates it knows (Llama 3, Qwen 2.5/3, Gemma,
Phi-3, ...); for a ChatML template it does not know (SmolLM2's, with its default system line), this
module writes a marked ChatML copy and keeps it only if it renders every probe conversation exactly
as the original does, so training sees the same text inference will.
"""

from __future__ import annotations

import json
from typing import Any

from aloe_bench.errors import ConfigError

_PROBES: list[list[dict[str, str]]] = [
    [{"role": "user", "content": "Hi there."}],
    [{"role": "user", "content": "Hi."}, {"role": "assistant", "content": "Hello! How are you?"},
     {"role": "user", "content": "Fine, thanks."}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi."},
     {"role": "assistant", "content": "Hello."}],
    [{"role": "user", "content": "A"}, {"role": "assistant", "content": "B"}, {"role": "user", "content": "C"},
     {"role": "assistant", "content": "D"}],
]


def has_generation_markers(template: Any) -> bool:
    """True when the template (a string, or named variants with a ``default``) marks assistant turns."""
    from trl.chat_template_utils import has_generation_markers as trl_has

    if isinstance(template, dict):
        template = template.get("default", "")
    return bool(template) and trl_has(template)


def _render(tokenizer, template: str, messages, add_generation_prompt: bool) -> str:
    return tokenizer.apply_chat_template(messages, chat_template=template, tokenize=False,
                                         add_generation_prompt=add_generation_prompt)


def marked_chatml(default_system: str | None) -> str:
    """A ChatML template with ``{% generation %}`` around each assistant reply and its end marker,
    adding ``default_system`` as the system message when a conversation has none."""
    system = ""
    if default_system is not None:
        literal = json.dumps(default_system)  # a valid Jinja string literal
        system = ("{%- if loop.first and messages[0]['role'] != 'system' -%}"
                  "{{ '<|im_start|>system\\n' + " + literal + " + '<|im_end|>\\n' }}{%- endif -%}")
    return ("{%- for message in messages -%}" + system +
            "{%- if message['role'] == 'assistant' -%}"
            "{{ '<|im_start|>assistant\\n' }}{% generation %}{{ message['content'] + '<|im_end|>' }}"
            "{% endgeneration %}{{ '\\n' }}"
            "{%- else -%}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
            "{%- endif -%}{%- endfor -%}"
            "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}")


def _default_system(tokenizer, template: str) -> str | None:
    text = _render(tokenizer, template, _PROBES[0], False)
    head = "<|im_start|>system\n"
    if not text.startswith(head):
        return None
    return text[len(head):text.index("<|im_end|>")]


def renders_alike(tokenizer, original: str, candidate: str) -> bool:
    """True when ``candidate`` renders every probe conversation as ``original`` does, with and
    without the generation prompt."""
    try:
        return all(_render(tokenizer, original, m, g) == _render(tokenizer, candidate, m, g)
                   for m in _PROBES for g in (False, True) if not (g and m[-1]["role"] == "assistant"))
    except Exception:  # noqa: BLE001 - a template that cannot render a probe is not alike
        return False


def training_template(tokenizer, model_name: str, template_file: str | None = None) -> str | None:
    """The chat template to train with when the loss is restricted to assistant turns: None when the
    tokenizer's own template has markers or TRL knows a marked copy (TRL then swaps it in), a marked
    ChatML copy when that renders exactly like the original, the ``template_file`` when given; else a
    one-line :class:`ConfigError`."""
    if template_file:
        try:
            text = open(template_file, encoding="utf-8").read()
        except OSError as exc:
            raise ConfigError(f"Cannot read chat_template {template_file}: {exc.strerror}.") from None
        if not has_generation_markers(text):
            raise ConfigError(f"chat_template {template_file} has no {{% generation %}} markers.",
                              "Wrap each assistant reply in {% generation %}...{% endgeneration %}.")
        return text
    original = tokenizer.chat_template
    if isinstance(original, dict):
        original = original.get("default")
    if not original:
        raise ConfigError(f"{model_name} has no chat template.", "Give chat_template = \"FILE.jinja\" in the config.")
    if has_generation_markers(original):
        return None
    from trl.chat_template_utils import get_training_chat_template

    try:
        get_training_chat_template(tokenizer)
        return None  # TRL knows this template and swaps in its marked copy itself
    except ValueError:
        pass
    if "<|im_start|>" in original:
        candidate = marked_chatml(_default_system(tokenizer, original))
        if renders_alike(tokenizer, original, candidate):
            return candidate
    raise ConfigError(f"The chat template of {model_name} has no {{% generation %}} markers and neither TRL nor "
                      "aloe-bench can mark it, so the loss cannot be limited to assistant turns.",
                      "Give chat_template = \"FILE.jinja\" (a copy of the template with {% generation %} markers "
                      "around assistant replies).")
