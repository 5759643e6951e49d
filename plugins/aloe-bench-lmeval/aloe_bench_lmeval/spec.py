"""Reading ``BACKEND:MODEL_ARGS`` and building lm-eval models from it.

``lmeval:BACKEND:MODEL_ARGS`` names a backend of lm-eval's model registry (``hf``, ``vllm``,
``sglang``, ``local-chat-completions``, ...) and its model arguments in lm-eval's own syntax
(``pretrained=Qwen/Qwen2-7B-Instruct,dtype=bfloat16``), exactly what ``lm_eval --model BACKEND
--model_args MODEL_ARGS`` takes. The backend ends at the first ``:``, so arguments may hold colons
(``base_url=http://127.0.0.1:8000/v1/chat/completions``).

Every mistake is one :class:`~aloe_bench.errors.ConfigError` line before anything is loaded where
it can be told early: an empty backend, a backend lm-eval lacks (with the close names from its
registry), an argument without ``=`` or a repeated one; errors the backend itself raises while it
builds (a missing checkpoint, an argument it does not take) become one line too.

lm_eval is imported inside the functions only.
"""

from __future__ import annotations

import difflib
import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aloe_bench.errors import ConfigError, MissingDependencyError

#: Backends that batch on one local device: given no batch size, they get :data:`LOCAL_BATCH_SIZE`.
LOCAL_BATCHED = ("hf", "hf-auto", "huggingface", "steered")
#: Default batch size of :data:`LOCAL_BATCHED` backends (lm-eval's own default is 1).
LOCAL_BATCH_SIZE = 16
#: Backends whose sampling takes a per-call seed in the generation kwargs (vLLM's SamplingParams).
SEED_IN_GEN_KWARGS = ("vllm", "vllm-vlm", "sglang")
#: Model arguments that may name local folders or files: fingerprinted by content (see :func:`fingerprint_paths`).
PATH_ARGS = ("pretrained", "model", "peft", "delta", "tokenizer")
EXAMPLE = "lmeval:hf:pretrained=Qwen/Qwen2-7B-Instruct,dtype=bfloat16"


@dataclass(frozen=True)
class BackendSpec:
    """A parsed ``BACKEND:MODEL_ARGS``: the backend name, the argument string as given and the
    arguments as lm-eval reads them (numbers and booleans converted)."""

    #: lm-eval registry name of the backend (``hf``, ``vllm``, ``local-chat-completions``, ...).
    backend: str
    #: The model arguments as given (``pretrained=DIR,dtype=float32``).
    arg_string: str = ""
    #: The arguments parsed the way lm-eval parses them.
    args: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """``BACKEND:MODEL_ARGS`` (``BACKEND`` alone without arguments)."""
        return f"{self.backend}:{self.arg_string}" if self.arg_string else self.backend


def parse_backend_spec(rest: str, *, prefix: str = "lmeval:") -> BackendSpec:
    """Parse ``BACKEND[:MODEL_ARGS]`` (the part of a spec after ``lmeval:``).

    The backend ends at the first colon. ``MODEL_ARGS`` is ``KEY=VALUE`` pairs separated by commas
    (lm-eval's syntax); a pair without ``=``, an empty key or a key given twice is a
    :class:`ConfigError`. The backend is not checked against lm-eval's registry here (that needs
    lm_eval: :func:`backend_class`)."""
    text = (rest or "").strip()
    backend, _, arg_string = text.partition(":")
    backend, arg_string = backend.strip(), arg_string.strip()
    if not backend:
        raise ConfigError(f"The lmeval provider needs a backend: {prefix}BACKEND:MODEL_ARGS (got {prefix}{rest}).",
                          f"For example --model {EXAMPLE}, or {prefix}vllm:pretrained=...,tensor_parallel_size=4.")
    args: dict[str, Any] = {}
    for piece in arg_string.split(","):
        if not piece.strip():
            continue
        key, sep, value = piece.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"Bad lm-eval model argument {piece.strip()!r} in {prefix}{text}: expected KEY=VALUE.",
                              "Model arguments are KEY=VALUE pairs separated by commas, as lm_eval --model_args "
                              "takes them (e.g. pretrained=DIR,dtype=float32).")
        if key in args:
            raise ConfigError(f"lm-eval model argument {key!r} is given twice in {prefix}{text}.")
        args[key] = _value(value.strip())
    return BackendSpec(backend=backend, arg_string=arg_string, args=args)


def _value(text: str) -> Any:
    """A model-argument value as lm-eval reads it (``handle_arg_string``: true/false, ints, floats)."""
    from lm_eval.utils import handle_arg_string

    return handle_arg_string(text)


def backend_names() -> list[str]:
    """Every backend name in lm-eval's model registry (registered lazily: nothing heavy is imported)."""
    import lm_eval.models  # noqa: F401  (registers the built-in backends by name)
    from lm_eval.api.registry import model_registry

    return sorted(model_registry.keys())


def backend_class(backend: str, *, prefix: str = "lmeval:"):
    """The lm-eval model class registered as ``backend``. A name lm-eval lacks is a
    :class:`ConfigError` naming the close matches; a backend whose own packages are missing
    (``vllm`` without vLLM) a :class:`MissingDependencyError`."""
    names = backend_names()
    if backend not in names:
        close = difflib.get_close_matches(backend, names, n=4, cutoff=0.5)
        raise ConfigError(f"lm-eval has no model backend {backend!r}." + (f" Did you mean: {', '.join(close)}?"
                                                                           if close else ""),
                          f"Backends: {', '.join(names)}. Spec: {prefix}BACKEND:MODEL_ARGS.")
    from lm_eval.api.registry import get_model

    try:
        return get_model(backend)
    except ImportError as exc:
        raise MissingDependencyError(f"lm-eval backend {backend!r} needs a package that is not installed "
                                     f"({exc}).", f"Install what lm-eval's docs name for it, e.g. pip install "
                                     f"'lm-eval[{backend.split('-')[0]}]'.") from None


def _named_params(cls) -> tuple[list[str], bool]:
    """(the named parameters of ``cls.__init__``, whether it also takes ``**kwargs``)."""
    try:
        params = inspect.signature(cls.__init__).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        return [], True
    named = [n for n, p in params.items() if n != "self"
             and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)]
    return named, any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def accepted_args(cls) -> list[str] | None:
    """The model arguments ``cls`` takes, or None when it passes unknown ones on (``hf`` hands
    them to ``from_pretrained``). lm-eval's HTTP backends take ``**kwargs`` only to pass them up
    their class chain, where the last one drops them silently: for those the named parameters
    of the whole chain are the arguments (so ``base_ur=`` is an error, not a default URL)."""
    from lm_eval.models.api_models import TemplateAPI

    if isinstance(cls, type) and issubclass(cls, TemplateAPI):
        names: list[str] = []
        for klass in cls.__mro__:
            if "__init__" in vars(klass) and issubclass(klass, TemplateAPI):
                names += [n for n in _named_params(klass)[0] if n not in names]
        return names
    named, var_keyword = _named_params(cls)
    return None if var_keyword else named


def check_args(cls, spec: BackendSpec, *, prefix: str = "lmeval:") -> None:
    """Refuse model arguments ``cls`` cannot take (see :func:`accepted_args`), naming the close
    matches, before anything is built."""
    accepted = accepted_args(cls)
    if accepted is None:
        return
    unknown = [k for k in spec.args if k not in accepted]
    if unknown:
        close = difflib.get_close_matches(unknown[0], accepted, n=3, cutoff=0.6)
        raise ConfigError(f"lm-eval backend {spec.backend!r} takes no model argument {unknown[0]!r} "
                          f"({prefix}{spec.text})." + (f" Did you mean: {', '.join(close)}?" if close else ""),
                          f"Its arguments: {', '.join(accepted) or 'none'}.")


def build_lm(spec: BackendSpec, *, batch_size: int | str | None = None, device: str | None = None,
             prefix: str = "lmeval:"):
    """The lm-eval model (an ``lm_eval.api.model.LM``) for ``spec``, built through lm-eval's registry
    the way ``lm_eval --model BACKEND --model_args ARGS --batch_size B --device D`` builds it.

    ``batch_size`` None: :data:`LOCAL_BATCH_SIZE` for :data:`LOCAL_BATCHED` backends, else the
    backend's default; ``device`` None: CUDA when there is one, else the CPU, for those backends.
    Arguments in the spec win over both. Whatever the backend raises while it builds is one :class:`ConfigError`
    line naming the spec (``--debug`` shows the traceback)."""
    cls = backend_class(spec.backend, prefix=prefix)
    check_args(cls, spec, prefix=prefix)
    if spec.backend in LOCAL_BATCHED:
        if batch_size is None:
            batch_size = LOCAL_BATCH_SIZE
        if device is None:  # lm-eval's hf defaults to "cuda" even on a machine without one
            import torch

            device = "cuda" if torch.cuda.is_available() else "cpu"
    extra = {k: v for k, v in {"batch_size": batch_size, "device": device}.items()
             if v is not None and k not in spec.args}
    try:
        return cls.create_from_arg_obj(dict(spec.args), extra)
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:  # the backend's own error (bad argument, missing checkpoint, no server)
        from aloe_bench.secrets import redact_text

        reason = " ".join(str(exc).split()) or type(exc).__name__
        if len(reason) > 300:
            reason = reason[:297] + "..."
        raise ConfigError(f"lm-eval could not build backend {spec.backend!r} from {prefix}{redact_text(spec.text)}: "
                          f"{type(exc).__name__}: {redact_text(reason)}",
                          "Check the model arguments (lm_eval --model_args syntax); --debug shows the traceback.") \
            from exc


def fingerprint_paths(args: dict[str, Any]) -> dict[str, str]:
    """For each argument of :data:`PATH_ARGS` that names a local folder or file, a short content
    fingerprint of it (:func:`aloe_bench.backends.checkpoints.folder_fingerprint` of a folder:
    its own model files, not ``checkpoint-N/`` subfolders nor what aloe-bench writes beside a
    checkpoint), so a checkpoint retrained into the same folder never shares cached replies with
    the old one."""
    from aloe_bench.backends.checkpoints import files_fingerprint, folder_fingerprint

    out: dict[str, str] = {}
    for key in PATH_ARGS:
        value = args.get(key)
        if not isinstance(value, str) or not value:
            continue
        path = Path(value).expanduser()
        if path.is_dir():
            out[key] = folder_fingerprint(path)
        elif path.is_file():
            out[key] = files_fingerprint([path])
    return out
