"""Tiny random chat models for fast tests: a real tokenizer, chat template and transformers model
of a few hundred kilobytes, built in about a tenth of a second.

The chat template is ChatML with ``{% generation %}`` markers around assistant content, so TRL's
``assistant_only_loss`` can find the assistant tokens when a trainer is tested on it.
"""

from __future__ import annotations

from pathlib import Path

from aloe_bench.errors import ConfigError

VOCAB_SIZE = 512
SPECIAL_TOKENS = ("<|pad|>", "<|endoftext|>", "<|im_start|>", "<|im_end|>")

#: ChatML; assistant content (and its end marker) sits inside ``{% generation %}`` blocks.
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{ '<|im_start|>' + message['role'] + '\n' }}"
    "{%- if message['role'] == 'assistant' -%}"
    "{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}{{ '\n' }}"
    "{%- else -%}"
    "{{ message['content'] + '<|im_end|>' + '\n' }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\n' }}{%- endif -%}"
)

# Enough varied text for the BPE trainer to learn merges beyond single bytes.
_CORPUS = [
    "Hello! How are you doing today? I just got back from a long walk with my dog.",
    "I work as a nurse and I love gardening on weekends, especially growing tomatoes.",
    "Could you recommend a good book about history? I enjoy reading before bed.",
    "My kids are learning to play the piano and the violin this year.",
    "Rate the reply from 1 to 5 for how well it fits the person. Answer with one number.",
    "The weather was lovely, so we cooked dinner outside and watched the sunset.",
    "I am a software engineer who likes hiking, photography and strong coffee.",
    "Thanks for the advice, that sounds like a great plan for the weekend!",
    "Numbers: 1 2 3 4 5 6 7 8 9 10. Score: 4. Rating: 5 out of 5.",
    "We moved to a small town near the mountains after I retired from teaching.",
]

_ARCHS = ("llama", "qwen2")


def _tokenizer(seed_corpus: list[str]):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(seed_corpus * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<|pad|>",
        eos_token="<|im_end|>",
        unk_token=None,
        additional_special_tokens=["<|im_start|>", "<|endoftext|>"],
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.padding_side = "left"
    return fast


def build_tiny_chat_model(folder: str | Path, arch: str = "llama", *, seed: int = 0) -> Path:
    """Build and save a tiny random chat model (tokenizer + weights) in ``folder``; return it.

    ``arch`` is ``llama`` (LlamaForCausalLM) or ``qwen2`` (Qwen2ForCausalLM): hidden size 64, two
    layers, a 512-token byte-level BPE. The same ``seed`` gives byte-identical weights.
    """
    if arch not in _ARCHS:
        raise ConfigError(f"Unknown tiny model architecture {arch!r}.", f"Use one of: {', '.join(_ARCHS)}.")
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = _tokenizer(_CORPUS)
    common = dict(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        # Wider than the usual 0.02: greedy decoding then depends on the input instead of repeating
        # one token, so batching and truncation tests can tell outputs apart.
        initializer_range=0.3,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
    )
    config = LlamaConfig(**common) if arch == "llama" else Qwen2Config(**common)
    model_class = LlamaForCausalLM if arch == "llama" else Qwen2ForCausalLM
    # Seed a private RNG state so building a model never disturbs the caller's random stream.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = model_class(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
