"""Regenerate docs/plugin_hooks.md (from aloe_bench/hookspecs.py), docs/api.md (from the types plugins
receive and return) and docs/cli.md (from --help).

Run: .venv/bin/python scripts/gen_docs.py        (tests/test_docs.py fails when these are stale)
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import io
import json
import re
import sys
import textwrap
import tokenize
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

# -- reStructuredText -> Markdown -----------------------------------------------------------------

#: A reST role such as :class:`~aloe_bench.records.Usage` or :meth:`ChatModel.acomplete`.
_ROLE = re.compile(r":(?:py:)?[a-z]+:`(~?)([^`]+?)`")
#: An inline literal ``x`` (never three backticks: code fences stay).
_LITERAL = re.compile(r"(?<!`)``(?!`)(.+?)(?<!`)``(?!`)", re.S)


def _role(match: re.Match) -> str:
    target = match.group(2).strip()
    if "<" in target and target.endswith(">"):  # :class:`title <target>`
        target = target[:target.index("<")].strip()
    if match.group(1):  # ~a.b.C shows as C
        target = target.split(".")[-1]
    return f"`{target}`"


def _inline(text: str) -> str:
    return _LITERAL.sub(lambda m: f"`{m.group(1)}`", _ROLE.sub(_role, text))


def md(text: str) -> str:
    """A docstring as Markdown: reST roles and ``literals`` become code spans, and a ``::``
    literal block becomes a fenced Python block. Fenced blocks are left as they are."""
    lines = inspect.cleandoc(text or "").splitlines()
    out: list[str] = []
    prose: list[str] = []

    def flush() -> None:
        if prose:
            out.extend(_inline("\n".join(prose)).split("\n"))
            prose.clear()

    i = 0
    while i < len(lines):
        line = lines[i]
        if line.lstrip().startswith("```"):  # an existing fence: copy it verbatim
            flush()
            out.append(line)
            i += 1
            while i < len(lines):
                out.append(lines[i])
                i += 1
                if out[-1].lstrip().startswith("```"):
                    break
            continue
        if line.rstrip().endswith("::"):
            head = line.rstrip()[:-2].rstrip()
            if head:
                prose.append(head + ":")
            flush()
            base = len(line) - len(line.lstrip())
            i += 1
            block: list[str] = []
            while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > base):
                block.append(lines[i])
                i += 1
            while block and not block[-1].strip():
                block.pop()
            code = textwrap.dedent("\n".join(block)).strip("\n")
            out += ["", "```python", *code.splitlines(), "```"]
            if i < len(lines):
                out.append("")
            continue
        prose.append(line)
        i += 1
    flush()
    return "\n".join(out).strip("\n")


def _one_line(text: str) -> str:
    """Text for a Markdown table cell: one line, pipes escaped."""
    return " ".join(md(text).split()).replace("|", "\\|")


def _code_cell(text: str) -> str:
    return "`" + text.replace("|", "\\|") + "`" if text else ""


# -- docs/plugin_hooks.md -------------------------------------------------------------------------

def hooks_markdown() -> str:
    """docs/plugin_hooks.md: every hook with its signature and docstring."""
    from aloe_bench import hookspecs

    out = ["# Plugin hooks", "",
           "Generated from `aloe_bench/hookspecs.py` by `python scripts/gen_docs.py`; do not edit by hand. "
           "The types named here are described in [api.md](api.md).", "",
           md(hookspecs.__doc__ or ""), ""]
    for name, fn in inspect.getmembers(hookspecs, inspect.isfunction):
        if not name.startswith("aloe_"):
            continue
        sig = str(inspect.signature(fn)).replace("'", "")
        out += [f"## `{name}`", "", "```python", "@hookimpl", f"def {name}{sig}: ...", "```", "",
                md(fn.__doc__ or ""), ""]
    return "\n".join(out).rstrip() + "\n"


# -- docs/api.md ----------------------------------------------------------------------------------

#: The API reference: (section, intro, [(module, name), ...]). Every name is imported from the
#: module shown (tests/test_docs.py checks each).
API: list[tuple[str, str, list[tuple[str, str]]]] = [
    ("Chat models",
     "What a model provider's factory returns (`aloe_register_models`), and what passes through it. "
     "Every role (model under test, simulator backend, judge backend) talks to a `ChatModel`.",
     [("aloe_bench.components", "ChatModel"), ("aloe_bench.components", "GenerationParams"),
      ("aloe_bench.components", "Reply"), ("aloe_bench.components", "ChoiceProbs"),
      ("aloe_bench.records", "Message"), ("aloe_bench.records", "Usage")]),
    ("Simulators and judges",
     "What simulator and judge factories return (`aloe_register_simulators`, `aloe_register_judges`), "
     "and the requests and verdicts they exchange with the engine. They are protocols: any class with "
     "these attributes and methods will do.",
     [("aloe_bench.components", "Simulator"), ("aloe_bench.components", "SimRequest"),
      ("aloe_bench.components", "Judge"), ("aloe_bench.components", "JudgeRequest"),
      ("aloe_bench.components", "Verdict"), ("aloe_bench.records", "Persona")]),
    ("Generation roles",
     "What `aloe-bench generate`'s protocols return and exchange with its engine: induction models and "
     "responders (`aloe_register_generation_protocols`, `role=\"induction\"` / `role=\"responder\"`) and "
     "pairwise judges (`aloe_register_judges` with `task=\"pairwise\"`), and the records it stores.",
     [("aloe_bench.components", "Induction"), ("aloe_bench.components", "InductionRequest"),
      ("aloe_bench.components", "Responder"), ("aloe_bench.components", "RespondRequest"),
      ("aloe_bench.components", "PairwiseJudge"), ("aloe_bench.components", "PairRequest"),
      ("aloe_bench.components", "PairVerdict"), ("aloe_bench.records", "TreeTurn"),
      ("aloe_bench.records", "PairJudgement"), ("aloe_bench.records", "GenerationStats")]),
    ("Profiles and rewards",
     "RLPA's side of the API: judges that check what a model has inferred about the user (`aloe_register_judges` "
     "with `task=\"coverage\"`: how many golden facts an inferred profile covers; `task=\"engagement\"`: would "
     "the user want to keep chatting after a reply), rewards over policy outputs (`aloe_register_rewards`), "
     "their requests and results, what `aloe_bench.rewards` and `aloe_bench.profile` offer for using "
     "them from Python, the golden facts they are scored against, and the records of "
     "`evaluate --profile-probe` (docs/profile.md).",
     [("aloe_bench.components", "CoverageJudge"), ("aloe_bench.components", "CoverageRequest"),
      ("aloe_bench.components", "CoverageVerdict"), ("aloe_bench.components", "EngagementJudge"),
      ("aloe_bench.components", "EngagementRequest"), ("aloe_bench.components", "EngagementVerdict"),
      ("aloe_bench.components", "Reward"), ("aloe_bench.components", "RewardRequest"),
      ("aloe_bench.components", "RewardResult"), ("aloe_bench.rewards", "build_reward"),
      ("aloe_bench.rewards", "BuiltReward"), ("aloe_bench.rewards", "run_rewards"),
      ("aloe_bench.rewards", "request_from_output"), ("aloe_bench.profile", "profile_f1"),
      ("aloe_bench.profile", "ProfileScore"), ("aloe_bench.profile", "parse_profile"),
      ("aloe_bench.profile", "parse_rlpa_output"), ("aloe_bench.profile", "TaggedOutput"),
      ("aloe_bench.personas.facts", "golden_facts"), ("aloe_bench.personas.facts", "GoldenFacts"),
      ("aloe_bench.records", "ProbeRecord"), ("aloe_bench.records", "ProbeScore")]),
    ("Metrics",
     "What a metric registered through `aloe_register_metrics` receives: a `RunData` holding the run's "
     "conversations (with their turns) and score records.",
     [("aloe_bench.metrics", "RunData"), ("aloe_bench.records", "Conversation"),
      ("aloe_bench.records", "Turn"), ("aloe_bench.records", "TurnScore")]),
    ("Provider options", "", [("aloe_bench.options", "ProviderOptions"), ("aloe_bench.options", "Flag"),
                              ("aloe_bench.options", "to_flag")]),
    ("Events",
     "What `aloe_on_event` observers receive: frozen dataclasses from `aloe_bench.events`, emitted by "
     "`aloe-bench evaluate` in this order: `RunStarted`, then per turn `TurnFinished` and (as judging "
     "completes) `TurnScored`, then `RunFinished`.",
     [("aloe_bench.events", "Event"), ("aloe_bench.events", "RunStarted"), ("aloe_bench.events", "TurnFinished"),
      ("aloe_bench.events", "TurnScored"), ("aloe_bench.events", "RunFinished")]),
    ("Run records", "What run.json records about each role (see above for where each value comes from).",
     [("aloe_bench.records", "ComponentSpec"), ("aloe_bench.records", "DriftFigures"),
      ("aloe_bench.records", "LengthFigures"), ("aloe_bench.records", "EnsembleFigures"),
      ("aloe_bench.records", "MemberFigures"), ("aloe_bench.records", "PairAgreement"),
      ("aloe_bench.records", "RepeatFigures"), ("aloe_bench.records", "RepeatFigure"),
      ("aloe_bench.records", "Spread")]),
]

#: Section intros taken from a module docstring.
SECTION_DOCS = {"Provider options": "aloe_bench.options"}

#: How the core calls each registration hook's factories (from the hooks' docstrings in
#: aloe_bench/hookspecs.py and the callers of Entry.build): hook -> (call, note, must return).
FACTORIES: dict[str, tuple[str, str, str]] = {
    "aloe_register_models": ("factory(rest: str, **options)", "", "[`ChatModel`](#chatmodel)"),
    "aloe_register_simulators": ("factory(backend: ChatModel | None, *, params: GenerationParams, **options)",
                                 "", "[`Simulator`](#simulator)"),
    "aloe_register_judges": ("factory(backend: ChatModel | None, *, mode: str, params: GenerationParams, "
                             "**options)", "task `score`: [`Judge`](#judge); task `pairwise`: "
                             "[`PairwiseJudge`](#pairwisejudge); task `coverage`: [`CoverageJudge`](#coveragejudge); "
                             "task `engagement`: [`EngagementJudge`](#engagementjudge)",
                             "[`Judge`](#judge), [`PairwiseJudge`](#pairwisejudge), [`CoverageJudge`](#coveragejudge) "
                             "or [`EngagementJudge`](#engagementjudge)"),
    "aloe_register_generation_protocols": ("factory(backend: ChatModel | None, *, params: GenerationParams, "
                                           "**options)", "", "[`Induction`](#induction) (role `induction`) or "
                                           "[`Responder`](#responder) (role `responder`)"),
    "aloe_register_metrics": ("metric(data: RunData)", "or a zero-argument factory returning the metric",
                              "a JSON-able `dict` (summary.json `extra[name]`)"),
    "aloe_register_persona_sources": ("factory(argument: str)", "", "`list[Persona]` ([`Persona`](#persona))"),
    "aloe_register_trainers": ("factory()", "", "an object with `config_class` (a class), optional `presets` and "
                               "`train(config, *, output=None, resume=False, quiet=False) -> dict` (`status`, "
                               "`output`, `model`, `base_model`, metrics)"),
    "aloe_register_reporters": ("render(rows: list[dict], notes: list[str])",
                                "or a zero-argument factory returning the function", "`str`"),
    "aloe_register_embedders": ("factory(**options)", "",
                                "an object with `name` and `encode(texts) -> numpy.ndarray`"),
    "aloe_register_rewards": ("factory(backend: ChatModel | None, *, params: GenerationParams | None, "
                              "host: PluginHost, **options)", "", "[`Reward`](#reward)"),
}

#: Where the factory arguments come from, per hook.
ARGUMENTS: dict[str, str] = {
    "aloe_register_models": "`rest`: the part of the spec after `provider:` (\"\" for a bare name); "
                            "`options`: `--model-option`, `--user-option`, `--judge-option` (per role)",
    "aloe_register_simulators": "`backend`: the `user` role's chat model (None when registered with "
                                "`needs_backend=False`); `params`: the user role's sampling parameters; "
                                "`options`: `--user-protocol-option`",
    "aloe_register_judges": "`backend`: the `judge` role's chat model (None with `needs_backend=False`); "
                            "`mode`: `turn` or `history`; `params`: the judge role's sampling parameters; "
                            "`options`: `--judge-protocol-option`",
    "aloe_register_generation_protocols": "`backend`: the role's chat model (`--induction`, `--hinted`, "
                                          "`--unhinted`; None with `needs_backend=False`); `params`: the role's "
                                          "sampling parameters; `options`: `--protocol-option ROLE.KEY=VALUE`",
    "aloe_register_metrics": "`data`: the run's conversations and scores ([`RunData`](#rundata))",
    "aloe_register_persona_sources": "`argument`: the text after `scheme:` in the persona source (\"\" for none)",
    "aloe_register_trainers": "nothing; `train` receives an instance of `config_class` built from defaults < "
                              "`--preset` < `--config FILE.toml` < `--set KEY=VALUE`, and only the keywords it "
                              "declares of `--output`, `--resume`, `--quiet`",
    "aloe_register_reporters": "`rows`: one dict per run (`ROW_FIELDS`), `notes`: remarks to print with them",
    "aloe_register_embedders": "`options`: `path=` when the embedder is named `NAME:PATH`",
    "aloe_register_rewards": "`backend`: the chat model of the judge spec given to `build_reward` or the trainer "
                             "(None with `needs_backend=False`); `params`: the judge's sampling parameters (None: "
                             "the judge's defaults); `host`: the plugin host, to build the judge a reward wraps; "
                             "`options`: `build_reward(name, spec, **options)` (the built-ins: `judge=`, `sees=`, "
                             "and the judge's own options)",
}

#: The keys of describe() the core reads (aloe_bench/evaluation/roles.py role_specs and
#: aloe_bench/evaluation/judging.py judgement_identity; tests/test_docs.py checks both).
DESCRIBE_KEYS = ("kind", "options", "prompt_hashes")


def api_names() -> list[tuple[str, str]]:
    """Every (module, name) the API reference documents."""
    return [item for _, _, items in API for item in items]


def _kind(obj: Any) -> str:
    from pydantic import BaseModel

    if inspect.isclass(obj):
        if issubclass(obj, BaseModel):
            return "model"
        if dataclasses.is_dataclass(obj):
            return "dataclass"
        if getattr(obj, "_is_protocol", False):
            return "protocol"
        return "class"
    if inspect.isfunction(obj):
        return "function"
    return "alias"


def _own_classes(cls: type) -> list[type]:
    """``cls`` and its bases defined in aloe_bench, base first."""
    return [k for k in reversed(cls.__mro__) if k.__module__.startswith("aloe_bench")]


def _comments(source: str) -> dict[int, str]:
    """Line number -> the text of a ``#`` comment on that line."""
    out = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            out[tok.start[0]] = tok.string
    return out


def _statement_docs(body: list[ast.stmt], lines: list[str], comments: dict[int, str]) -> dict[str, str]:
    """Name -> documentation of the assignments in ``body``: a ``#:`` comment block above the
    assignment, else a string literal right after it, else a comment at the end of its line."""
    docs = {}
    for i, node in enumerate(body):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            name = node.target.id
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
        else:
            continue
        block, j = [], node.lineno - 2
        while j >= 0 and lines[j].strip().startswith("#:"):
            block.insert(0, lines[j].strip()[2:].strip())
            j -= 1
        text = " ".join(block)
        nxt = body[i + 1] if i + 1 < len(body) else None
        if not text and isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant) \
                and isinstance(nxt.value.value, str):
            text = " ".join(inspect.cleandoc(nxt.value.value).split())
        if not text:
            trailing = [comments[n] for n in range(node.lineno, node.end_lineno + 1)
                        if n in comments and not comments[n].startswith("#:")]
            text = " ".join(c.lstrip("#").strip() for c in trailing)
        docs[name] = text
    return docs


def _attribute_docs(cls: type) -> dict[str, str]:
    """Attribute name -> its documentation, over ``cls`` and its aloe_bench bases."""
    docs: dict[str, str] = {}
    for klass in _own_classes(cls):
        source = textwrap.dedent(inspect.getsource(klass))
        tree = ast.parse(source)
        cdef = next(n for n in tree.body if isinstance(n, ast.ClassDef))
        docs.update(_statement_docs(cdef.body, source.splitlines(), _comments(source)))
    return docs


def _annotation(cls: type, name: str) -> str:
    for klass in cls.__mro__:
        ann = klass.__dict__.get("__annotations__", {})
        if name in ann:
            value = ann[name]
            if not isinstance(value, str):
                return inspect.formatannotation(value)
            return _unquote(value, vars(sys.modules[klass.__module__]))
    return ""


def _value(value: Any) -> str:
    from pydantic import BaseModel

    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, BaseModel):
        changed = {k: v for k, v in value.model_dump().items() if type(value).model_fields[k].default != v}
        return f"{type(value).__name__}({', '.join(f'{k}={v!r}' for k, v in changed.items())})"
    return repr(value)


def _factory(factory: Any) -> str:
    if factory in (dict, list, set, tuple):
        return repr(factory())
    if inspect.isclass(factory):
        return f"{factory.__name__}()"
    if factory.__name__ == "<lambda>":
        return _value(factory())
    return f"{factory.__name__}()"


_QUOTED_NAME = re.compile(r"""(["'])([A-Za-z_][\w.]*)\1""")


def _unquote(text: str, namespace: dict[str, Any]) -> str:
    """An annotation without the quotes of its forward references (``"Usage"`` -> ``Usage``); a
    quoted word that names nothing in ``namespace`` (a ``Literal`` value) keeps its quotes."""
    return _QUOTED_NAME.sub(lambda m: m.group(2) if m.group(2).split(".")[0] in namespace else m.group(0), text)


class _Ann:
    """An annotation shown as written (``from __future__ import annotations`` keeps them as text)."""

    def __init__(self, text: str, namespace: dict[str, Any]):
        self.text = _unquote(text, namespace)

    def __repr__(self) -> str:
        return self.text


def _signature(fn: Any, name: str, drop_first: bool = False) -> str:
    sig = inspect.signature(fn)
    namespace = getattr(fn, "__globals__", {})
    params = [p.replace(annotation=_Ann(p.annotation, namespace)) if isinstance(p.annotation, str) else p
              for p in sig.parameters.values()]
    if drop_first:
        params = params[1:]
    ret = sig.return_annotation
    ret = _Ann(ret, namespace) if isinstance(ret, str) else ret
    return f"{name}{sig.replace(parameters=params, return_annotation=ret)}"


def _fields_table(rows: list[tuple[str, str, str, str]], with_default: bool = True) -> list[str]:
    if not rows:
        return []
    if with_default:
        out = ["| Name | Type | Default | Description |", "|---|---|---|---|"]
        out += [f"| `{n}` | {_code_cell(t)} | {_code_cell(d)} | {_one_line(doc)} |" for n, t, d, doc in rows]
    else:
        out = ["| Name | Type | Description |", "|---|---|---|"]
        out += [f"| `{n}` | {_code_cell(t)} | {_one_line(doc)} |" for n, t, _, doc in rows]
    return out + [""]


def attribute_rows(obj: Any) -> list[tuple[str, str, str, str]]:
    """(name, type, default, description) of the fields or public attributes of a documented class."""
    kind = _kind(obj)
    if kind in ("function", "alias"):
        return []
    docs = _attribute_docs(obj)
    rows = []
    if kind == "model":
        for name, info in obj.model_fields.items():
            if info.is_required():
                default = "required"
            elif info.default_factory is not None:
                default = _factory(info.default_factory)
            else:
                default = _value(info.default)
            rows.append((name, _annotation(obj, name), default, info.description or docs.get(name, "")))
    elif kind == "dataclass":
        for f in dataclasses.fields(obj):
            if f.default is not dataclasses.MISSING:
                default = _value(f.default)
            elif f.default_factory is not dataclasses.MISSING:
                default = _factory(f.default_factory)
            else:
                default = "required"
            rows.append((f.name, f.type if isinstance(f.type, str) else inspect.formatannotation(f.type),
                         default, docs.get(f.name, "")))
    else:
        for klass in _own_classes(obj):
            for name in klass.__dict__.get("__annotations__", {}):
                if name.startswith("_"):
                    continue
                default = _value(klass.__dict__[name]) if name in klass.__dict__ else ""
                rows.append((name, _annotation(obj, name), default, docs.get(name, "")))
    return rows


def _methods(obj: type) -> list[tuple[str, Any, str]]:
    """(name, function, decorator) of the public methods defined in aloe_bench, in source order."""
    out = []
    for klass in _own_classes(obj):
        for name, member in klass.__dict__.items():
            if name.startswith("_"):
                continue
            if isinstance(member, property):
                out.append((name, member.fget, "@property"))
            elif isinstance(member, classmethod):
                out.append((name, member.__func__, "@classmethod"))
            elif isinstance(member, staticmethod):
                out.append((name, member.__func__, "@staticmethod"))
            elif inspect.isfunction(member):
                out.append((name, member, ""))
    return out


def _alias_source(module: Any, name: str) -> tuple[str, str]:
    """The source of a module-level assignment and its ``#:`` documentation."""
    source = inspect.getsource(module)
    tree = ast.parse(source)
    docs = _statement_docs(tree.body, source.splitlines(), _comments(source))
    for node in tree.body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and name in {
                t.id for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
                if isinstance(t, ast.Name)}:
            return ast.get_source_segment(source, node), docs.get(name, "")
    raise LookupError(f"{module.__name__}.{name} is not a module-level assignment")


def _describe_kind(obj: Any) -> str:
    kind = _kind(obj)
    if kind == "model":
        config = obj.model_config
        notes = ["pydantic model"]
        if config.get("frozen"):
            notes.append("frozen")
        notes.append("unknown keys are an error" if config.get("extra") == "forbid" else "unknown keys are ignored")
        return f"*{'; '.join(notes)}.*"
    if kind == "dataclass":
        return "*Frozen dataclass.*" if obj.__dataclass_params__.frozen else "*Dataclass.*"
    if kind == "protocol":
        runtime = " (runtime-checkable)" if getattr(obj, "_is_runtime_protocol", False) else ""
        return f"*Protocol{runtime}: any class with these attributes and methods will do; no need to subclass.*"
    if kind == "class":
        bases = [b.__name__ for b in obj.__bases__ if b is not object]
        return f"*Class{' (a `' + '`, `'.join(bases) + '`)' if bases else ''}.*"
    return ""


def _api_entry(module_name: str, name: str) -> list[str]:
    module = importlib.import_module(module_name)
    obj = getattr(module, name)
    kind = _kind(obj)
    out = [f"### `{name}`", "", "```python", f"from {module_name} import {name}", "```", ""]
    if kind == "alias":
        code, doc = _alias_source(module, name)
        return out + ["*Type alias.*", "", "```python", code, "```", "", md(doc), ""]
    if kind == "function":
        sig = _signature(obj, name)
        prefix = "async def " if inspect.iscoroutinefunction(obj) else "def "
        return out + ["*Function.*", "", "```python", prefix + sig, "```", "", md(obj.__doc__ or ""), ""]
    out += [_describe_kind(obj), "", md(obj.__doc__ or ""), ""]
    if kind == "class" and "__init__" in obj.__dict__:
        out += ["```python", _signature(obj.__init__, name, drop_first=True), "```", ""]
    rows = attribute_rows(obj)
    if rows:
        out += ["Fields:" if kind in ("model", "dataclass") else "Attributes:", ""]
        out += _fields_table(rows, with_default=kind != "protocol")
    for mname, fn, decorator in _methods(obj):
        prefix = "async def " if inspect.iscoroutinefunction(fn) else "def "
        code = ([decorator] if decorator else []) + [prefix + _signature(fn, mname)]
        out += [f"#### `{name}.{mname}`", "", "```python", *code, "```", "", md(fn.__doc__ or ""), ""]
    return out


def undocumented() -> list[str]:
    """``Class.attribute`` of every documented field or attribute that has no description."""
    out = []
    for module_name, name in api_names():
        obj = getattr(importlib.import_module(module_name), name)
        out += [f"{name}.{row[0]}" for row in attribute_rows(obj) if not row[3].strip()]
    return out


def _label(value: Any, labels: dict[str, str]) -> str:
    if isinstance(value, str) and value in labels:
        return labels[value]
    if isinstance(value, dict) and len(value) == 1 and next(iter(value)) in labels:
        return labels[next(iter(value))]
    if value is True:
        return "the backend's `demo_quality`"
    return f"`{json.dumps(value)}`"


def run_json_sources() -> list[tuple[str, list[str]]]:
    """Where each key of run.json's ``components`` entries comes from, per role, traced through
    :func:`aloe_bench.evaluation.roles.role_specs` with labelled stand-ins."""
    from aloe_bench.evaluation.roles import role_specs

    labels: dict[str, str] = {}

    def mark(label: str) -> str:
        key = f"@{len(labels)}"
        labels[key] = label
        return key

    def backend(role: str) -> SimpleNamespace:
        ident = {mark(f"{role}'s `identity()`"): 1}
        return SimpleNamespace(identity=lambda: ident, demo_quality=True)

    def protocol(role: str) -> SimpleNamespace:
        d = {"kind": mark(f"{role}'s `describe()[\"kind\"]`"),
             "options": {mark(f"{role}'s `describe()[\"options\"]`"): 1},
             "prompt_hashes": {mark(f"{role}'s `describe()[\"prompt_hashes\"]`"): "x"}}
        return SimpleNamespace(describe=lambda: d, backend=backend(f"{role}'s backend"))

    # A plain run: no reply format, no profile probe, no coverage judge (role_specs reads them).
    config = SimpleNamespace(model=mark("the `--model` spec"), model_options={mark("`--model-option` values"): 1},
                             user=mark("the `--user` spec"), judge=mark("the `--judge` spec"), reply_format=None,
                             profile_probe=False, profile_judge_spec="")
    model = backend("the model")
    comps = SimpleNamespace(model=model, simulator=protocol("the simulator"), judge=protocol("the judge"),
                            profile_judge=None)
    specs = role_specs(config, comps)
    rows = []
    for field in type(specs[0]).model_fields:
        rows.append((field, [_label(getattr(s, field), labels) if field != "role" else f"`{s.role}`"
                             for s in specs]))
    return rows


def judgement_json_sources() -> list[tuple[str, str]]:
    """Where each key of a re-scoring's judgement.json ``identity`` comes from, traced through
    :func:`aloe_bench.evaluation.judging.judgement_identity` with labelled stand-ins."""
    from aloe_bench.evaluation.judging import judgement_identity

    labels = {"@spec": "the `--judge` spec", "@protocol": "the judge protocol's name",
              "@mode": "the judge's `mode`", "@kind": "`describe()[\"kind\"]`",
              "@options": "`describe()[\"options\"]`", "@prompts": "`describe()[\"prompt_hashes\"]`",
              "@identity": "the backend's `identity()`", "@judge_options": "the `--judge-option` values"}
    described = {"kind": "@kind", "options": {"@options": 1}, "prompt_hashes": {"@prompts": "x"}}
    judge = SimpleNamespace(mode="@mode", describe=lambda: described,
                            backend=SimpleNamespace(identity=lambda: {"@identity": 1}))
    bare = SimpleNamespace(mode="@mode", describe=lambda: described, backend=None)
    with_backend = judgement_identity("@spec", "@protocol", 7, {"@judge_options": 1}, judge)
    without = judgement_identity("@spec", "@protocol", 7, {"@judge_options": 1}, bare)
    rows = []
    for key, value in with_backend.items():
        text = "`judge_samples`" if value == 7 else _label(value, labels)
        if without.get(key) != value:
            text += f" (without a backend: {_label(without.get(key), labels)})"
        rows.append((key, text))
    return rows


def _factory_table() -> list[str]:
    from aloe_bench.plugins import REGISTRY_HOOKS

    out = ["| Hook | The core calls | Arguments | Must return | Registration keywords |", "|---|---|---|---|---|"]
    for hook, _kind_name, meta, _check in REGISTRY_HOOKS.values():
        call, note, returns = FACTORIES[hook]
        keywords = ", ".join(f"`{k}={v!r}`" for k, v in meta.items()) or "none"
        called = _code_cell(call) + (f", {_one_line(note)}" if note else "")
        out.append(f"| [`{hook}`](plugin_hooks.md#{hook}) | {called} | {_one_line(ARGUMENTS[hook])} "
                   f"| {returns} | {keywords} |")
    return out + [""]


def api_markdown() -> str:
    """docs/api.md: every type a plugin receives or returns, with where each value goes."""
    from aloe_bench.registry import Entry

    out = ["# API reference", "",
           "Generated from the code (docstrings, `#:` attribute comments, signatures) by "
           "`python scripts/gen_docs.py`; do not edit by hand. The hooks themselves are in "
           "[plugin_hooks.md](plugin_hooks.md).", "",
           "## What each factory receives", "",
           "Every `register(name, factory, ...)` call of a registration hook adds a factory; the core "
           "calls it as below.", ""]
    out += _factory_table()
    out += ["How a factory is called (`Entry.build`, aloe_bench/registry.py):", "",
            "> " + "\n> ".join(md(Entry.build.__doc__ or "").splitlines()), "",
            "So a factory may leave out `params` or `mode`, and still works when the core passes more; "
            "it takes `**options` (or named keyword options) for what the user passes, validated with "
            "[`ProviderOptions`](#provideroptions).", ""]

    out += ["## What reaches run.json", "",
            "run.json's `components` holds one [`ComponentSpec`](#componentspec) per role, built by "
            "`role_specs` (aloe_bench/evaluation/roles.py) from the role's configuration, its chat model "
            "(a protocol's `backend` attribute) and its protocol's `describe()`. `options` and `identity` "
            "pass through the secret redaction. Only these values of a plugin's objects are recorded:", "",
            "| Key | Model under test | Simulator | Judge |", "|---|---|---|---|"]
    for key, cells in run_json_sources():
        out.append(f"| `{key}` | " + " | ".join(cells) + " |")
    out += ["", f"`describe()` must return a dict; the core reads only the keys "
            f"{', '.join(f'`{k}`' for k in DESCRIBE_KEYS)} (missing ones are stored empty). A protocol "
            "registered with `needs_backend=False` has no backend: its `spec` is stored as \"\", its "
            "`identity` as `{}` and `demo_quality` as false.", "",
            "A re-scoring (`aloe-bench judge`) stores its identity in `judgements/NAME/judgement.json` "
            "(`judgement_identity`, aloe_bench/evaluation/judging.py); scores are added to an existing "
            "re-scoring only while every value is the same:", "",
            "| Key | From |", "|---|---|"]
    out += [f"| `{key}` | {text} |" for key, text in judgement_json_sources()]
    out.append("")

    out += ["## Contents", ""]
    for section, _, items in API:
        anchor = section.lower().replace(" ", "-")
        out.append(f"- [{section}](#{anchor}): " + ", ".join(f"[`{n}`](#{n.lower()})" for _, n in items))
    out.append("")
    for section, intro, items in API:
        out += [f"## {section}", ""]
        if section in SECTION_DOCS:
            out += [md(importlib.import_module(SECTION_DOCS[section]).__doc__ or ""), ""]
        if intro:
            out += [intro, ""]
        for module_name, name in items:
            out += _api_entry(module_name, name)
    text = "\n".join(out).rstrip() + "\n"
    return re.sub(r"\n{3,}", "\n\n", text)


# -- docs/cli.md ----------------------------------------------------------------------------------

def _walk(cmd, path, out, parent=None):
    import click

    # Each command's own context settings, inherited as at run time (e.g. -h, --help). Click caches
    # a command's help option from the first context that asked for it (a test may have invoked a
    # subcommand on its own): forget it, so the text depends on the command tree alone.
    cmd._help_option = None
    ctx = click.Context(cmd, info_name=path[-1], parent=parent, **(cmd.context_settings or {}))
    out += [f"## `{' '.join(path)}`", "", "```", cmd.get_help(ctx).rstrip(), "```", ""]
    if isinstance(cmd, click.Group):
        for sub in sorted(cmd.list_commands(ctx)):
            _walk(cmd.get_command(ctx, sub), path + [sub], out, ctx)


def cli_markdown() -> str:
    """docs/cli.md: the --help of every command: the built-in ones and those the installed
    first-party plugins add (``regress``, from aloe-bench-lmeval), as ``aloe-bench`` shows them."""
    from aloe_bench.cli import _add_plugin_commands, cli

    _add_plugin_commands()  # as main() does; the same tree whatever ran before in this process
    out = ["# CLI reference", "",
           "Generated from `--help` by `python scripts/gen_docs.py`; do not edit by hand. It covers the "
           "built-in commands and those of the first-party plugins (`regress` comes with aloe-bench-lmeval); "
           "other plugins may add more (`aloe-bench --help` on your install lists them).", ""]
    _walk(cli, ["aloe-bench"], out)
    return "\n".join(out).rstrip() + "\n"


#: Every generated file and the function that writes it.
GENERATED = {"plugin_hooks.md": hooks_markdown, "api.md": api_markdown, "cli.md": cli_markdown}


def main() -> int:
    import os

    os.environ["COLUMNS"] = "100"
    for name, make in GENERATED.items():
        (ROOT / "docs" / name).write_text(make(), encoding="utf-8")
    print("wrote " + ", ".join(f"docs/{name}" for name in GENERATED))
    return 0


if __name__ == "__main__":
    sys.exit(main())
