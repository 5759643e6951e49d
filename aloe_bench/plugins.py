"""The plugin host: pluggy manager, entry-point discovery, allow/block lists, registries.

Core code never touches ``pm.hook`` directly; it goes through :class:`PluginHost`.

Hook implementations are called the pluggy way: by the argument names they declare (a plugin
may accept any subset of a hook's arguments, so hooks can gain arguments without breaking
plugins), and anything a plugin raises is reported as a :class:`PluginError` naming the plugin.

Environment:
- ``ALOE_BENCH_PLUGINS``: comma-separated allow-list of external plugins (entry-point names or
  distribution names). When set, only these external plugins load. Built-ins always load.
- ``ALOE_BENCH_DISABLE_PLUGINS``: comma-separated block-list, same names. Built-in plugins can be
  blocked too (``core.roles``, ``core.reporters``, ``core.persona_sources``, ``core.rewards``), so a
  plugin can replace the built-in ``aloe`` judge or simulator; ``core.metrics`` is essential.
- ``ALOE_BENCH_TRACE_PLUGINS=1``: print every hook call, its plugin and what it registered, to
  standard error.
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
import types
import warnings
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Mapping

import pluggy

from aloe_bench import __version__, hookspecs
from aloe_bench.errors import AloeBenchError, AloeBenchWarning, PluginError
from aloe_bench.registry import Registry

ENTRY_POINT_GROUP = "aloe_bench"

#: Built-in plugins: ordinary hook implementations, registered the same way as external ones.
BUILTIN_PLUGINS = (
    "aloe_bench.default_plugins.persona_sources",
    "aloe_bench.default_plugins.metrics",
    "aloe_bench.default_plugins.roles",
    "aloe_bench.default_plugins.reporters",
    "aloe_bench.default_plugins.scripted",
    "aloe_bench.default_plugins.rewards",
)

#: Built-in plugins that cannot be disabled (the summary's AL(k) family comes from core.metrics).
ESSENTIAL_PLUGINS = ("core.metrics",)


def _is_chat_model(obj: Any) -> str | None:
    from aloe_bench.components import ChatModel

    return None if isinstance(obj, ChatModel) else "not an aloe_bench.components.ChatModel"


def _has(*methods: str):
    def check(obj: Any) -> str | None:
        missing = [m for m in methods if not callable(getattr(obj, m, None))]
        return f"it lacks {', '.join(missing)}" if missing else None
    return check


#: The tasks a judge protocol can be registered for (``task=``), with the method its product must
#: have: ``score`` (a 1-5 score per reply: :class:`~aloe_bench.components.Judge`), ``pairwise``
#: (which of two replies fits the persona better: :class:`~aloe_bench.components.PairwiseJudge`),
#: ``coverage`` (how many golden facts an inferred profile covers:
#: :class:`~aloe_bench.components.CoverageJudge`) and ``engagement`` (would the user want to keep
#: chatting after a reply: :class:`~aloe_bench.components.EngagementJudge`).
JUDGE_TASKS: dict[str, str] = {"score": "score", "pairwise": "compare", "coverage": "count",
                               "engagement": "decide"}


def _judge_check(obj: Any, meta: dict[str, Any]) -> str | None:
    task = meta.get("task", "score")
    return _has(JUDGE_TASKS.get(task, "score"), "describe")(obj)


def _generation_protocol_check(obj: Any, meta: dict[str, Any]) -> str | None:
    return _has(GENERATION_ROLES.get(meta.get("role"), "respond"), "describe")(obj)


#: The roles a generation protocol can be registered for, with the method its product must have.
GENERATION_ROLES: dict[str, str] = {"induction": "induce", "responder": "respond"}


def _is_callable(obj: Any) -> str | None:
    return None if callable(obj) else "not callable"


def _is_list(obj: Any) -> str | None:
    return None if isinstance(obj, list) else "not a list of Persona"


#: registry key -> (hook, kind, registration keywords with defaults, check of what factories return)
REGISTRY_HOOKS: dict[str, tuple[str, str, dict[str, Any], Any]] = {
    "models": ("aloe_register_models", "model provider",
               {"claims": None, "default": False, "demo_quality": False, "price": None}, _is_chat_model),
    "simulators": ("aloe_register_simulators", "user-simulator protocol", {"needs_backend": True},
                   _has("next_messages", "describe")),
    "judges": ("aloe_register_judges", "judge protocol", {"needs_backend": True, "task": "score"}, _judge_check),
    "generation_protocols": ("aloe_register_generation_protocols", "generation protocol",
                             {"needs_backend": True, "role": "responder"}, _generation_protocol_check),
    "metrics": ("aloe_register_metrics", "metric", {}, _is_callable),
    "persona_sources": ("aloe_register_persona_sources", "persona source", {}, _is_list),
    "trainers": ("aloe_register_trainers", "trainer", {}, lambda obj: _has("train")(obj) or (
        None if isinstance(getattr(obj, "config_class", None), type) else "its config_class is not a class")),
    "reporters": ("aloe_register_reporters", "leaderboard format", {}, _is_callable),
    "embedders": ("aloe_register_embedders", "embedder", {}, _has("encode")),
    "rewards": ("aloe_register_rewards", "reward", {"needs_backend": True}, _has("reward", "describe")),
}


#: registry key -> {registration keyword: its allowed values}
REGISTRY_CHOICES: dict[str, dict[str, tuple[Any, ...]]] = {
    "judges": {"task": tuple(JUDGE_TASKS)},
    "generation_protocols": {"role": tuple(GENERATION_ROLES)},
}


def _trace(message: str) -> None:
    if os.environ.get("ALOE_BENCH_TRACE_PLUGINS", "") not in ("", "0"):
        print(f"aloe-bench trace: {message}", file=sys.stderr)


@dataclass
class PluginInfo:
    """What ``aloe-bench plugins`` shows about one plugin."""

    name: str
    distribution: str
    version: str
    builtin: bool
    hooks: list[str] = field(default_factory=list)
    registered: dict[str, list[str]] = field(default_factory=dict)


def _env_list(env: Mapping[str, str], key: str) -> set[str] | None:
    raw = env.get(key)
    if raw is None:
        return None
    return {p.strip() for p in raw.split(",") if p.strip()}


class PluginHost:
    """Loads plugins and exposes their registries and hooks through a typed facade.

    ``extra_plugins`` (name -> plugin object) registers plugins in-process, as tests do; one
    given a built-in's short name (``scripted`` for ``core.scripted``) takes that built-in's place.
    """

    def __init__(self, *, load_entrypoints: bool = True, env: Mapping[str, str] | None = None,
                 extra_plugins: Mapping[str, Any] | None = None):
        env = os.environ if env is None else env
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self._dists: dict[str, tuple[str, str, bool]] = {}
        allow = _env_list(env, "ALOE_BENCH_PLUGINS")
        block = _env_list(env, "ALOE_BENCH_DISABLE_PLUGINS") or set()
        self.skipped: list[str] = []
        for modname in BUILTIN_PLUGINS:
            name = "core." + modname.rsplit(".", 1)[-1]
            if name in block:
                if name in ESSENTIAL_PLUGINS:
                    warnings.warn(f"aloe-bench: the built-in plugin {name!r} is essential and cannot be disabled.",
                                  stacklevel=2)
                else:
                    self.skipped.append(name)
                    continue
            self.pm.register(importlib.import_module(modname), name=name)
            self._dists[name] = ("aloe-bench", __version__, True)
        if load_entrypoints:
            self._load_entrypoints(allow, block)
        for name, plugin in (extra_plugins or {}).items():
            if f"core.{name}" in self._dists and f"core.{name}" not in ESSENTIAL_PLUGINS:  # takes the built-in's place
                self.pm.unregister(name=f"core.{name}")
            self.pm.register(plugin, name=name)
            self._dists[name] = ("(in-process)", "", False)
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            plugin = getattr(exc, "plugin", None)
            name = self.pm.get_name(plugin) if plugin is not None else "?"
            raise PluginError(
                f"Plugin {name!r} implements a hook that does not exist: {exc}",
                "Check the hook name against docs/plugin_hooks.md.",
            ) from None
        self._registries: dict[str, Registry] | None = None

    def _load_entrypoints(self, allow: set[str] | None, block: set[str]) -> None:
        for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            dist = ep.dist.name if ep.dist else ep.value
            version = ep.dist.version if ep.dist else ""
            names = {ep.name, dist}
            if names & block or (allow is not None and not names & allow):
                self.skipped.append(ep.name)
                continue
            if self.pm.get_plugin(ep.name) is not None:
                continue
            refusal = core_incompatibility(ep.dist) if ep.dist else None
            if refusal is not None:  # built for another core: refused before its code is imported
                warnings.warn(f"plugin {ep.name!r} was not loaded: {refusal}", AloeBenchWarning, stacklevel=2)
                self.skipped.append(ep.name)
                continue
            try:
                plugin = ep.load()
            except Exception as exc:  # a broken plugin must not take the CLI down; say so loudly
                warnings.warn(
                    f"aloe-bench: plugin {ep.name!r} ({dist}) failed to load: {exc!r}. "
                    f"Disable it with ALOE_BENCH_DISABLE_PLUGINS={ep.name}.",
                    stacklevel=2,
                )
                self.skipped.append(ep.name)
                continue
            try:
                self.pm.register(plugin, name=ep.name)
            except pluggy.PluginValidationError as exc:
                raise PluginError(f"Plugin {ep.name!r} ({dist}) is invalid: {exc}") from None
            self._dists[ep.name] = (dist, version, False)

    # -- registries -------------------------------------------------------------------------
    def call_each(self, hook_name: str, make_kwargs) -> None:
        """Call every implementation of ``hook_name`` with the arguments it declares (pluggy's
        rule): ``make_kwargs(impl)`` gives the available ones. Anything an implementation raises
        becomes a :class:`PluginError` naming its plugin (errors meant for users pass through)."""
        for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
            available = make_kwargs(impl)
            missing = [a for a in impl.argnames if a not in available]
            if missing:
                raise PluginError(f"Plugin {impl.plugin_name!r} implements {hook_name} with unknown "
                                  f"argument(s) {', '.join(missing)}.", "See docs/plugin_hooks.md.")
            _trace(f"{hook_name} -> plugin {impl.plugin_name!r}")
            try:
                impl.function(**{a: available[a] for a in impl.argnames})
            except AloeBenchError:
                raise
            except Exception as exc:
                raise PluginError(f"Plugin {impl.plugin_name!r} failed in {hook_name}: {type(exc).__name__}: {exc}",
                                  f"Disable it with ALOE_BENCH_DISABLE_PLUGINS={impl.plugin_name}.") from exc

    @property
    def registries(self) -> dict[str, Registry]:
        """All registries, built on first use by calling every registration hook."""
        if self._registries is None:
            regs: dict[str, Registry] = {}
            for key, (hook_name, kind, meta, check) in REGISTRY_HOOKS.items():
                reg = Registry(kind, meta=meta, check=check, choices=REGISTRY_CHOICES.get(key))

                def make_kwargs(impl, _reg=reg):
                    def register(name, factory, *, description="", **extra):
                        _reg.register(name, factory, description=description, plugin=impl.plugin_name, **extra)
                        _trace(f"  plugin {impl.plugin_name!r} registered {_reg.kind} {name!r}")
                    return {"register": register}

                self.call_each(hook_name, make_kwargs)
                claiming = reg.with_meta("claims")
                if len(claiming) > 1 or len(reg.with_meta("default")) > 1:
                    which = "claim unprefixed specs" if len(claiming) > 1 else "declare the default spec"
                    names = [f"{e.name} ({e.plugin})" for e in (claiming if len(claiming) > 1 else reg.with_meta("default"))]
                    raise PluginError(f"Several model providers {which}: {', '.join(names)}.",
                                      "Disable all but one with ALOE_BENCH_DISABLE_PLUGINS.")
                regs[key] = reg
            self._registries = regs
        return self._registries

    @property
    def models(self) -> Registry:
        """Chat-model providers."""
        return self.registries["models"]

    @property
    def simulators(self) -> Registry:
        """User-simulator protocols."""
        return self.registries["simulators"]

    @property
    def judges(self) -> Registry:
        """Judge protocols."""
        return self.registries["judges"]

    @property
    def generation_protocols(self) -> Registry:
        """Generation protocols of ``aloe-bench generate`` (induction, responders)."""
        return self.registries["generation_protocols"]

    @property
    def metrics(self) -> Registry:
        """Run metrics."""
        return self.registries["metrics"]

    @property
    def persona_sources(self) -> Registry:
        """Persona sources by scheme."""
        return self.registries["persona_sources"]

    @property
    def trainers(self) -> Registry:
        """Trainers."""
        return self.registries["trainers"]

    @property
    def reporters(self) -> Registry:
        """Leaderboard formats."""
        return self.registries["reporters"]

    @property
    def embedders(self) -> Registry:
        """Sentence embedders."""
        return self.registries["embedders"]

    @property
    def rewards(self) -> Registry:
        """Rewards over policy outputs (RLPA's ``profile`` and ``response``)."""
        return self.registries["rewards"]

    # -- other hooks ------------------------------------------------------------------------
    def add_commands(self, cli: Any) -> None:
        """Let plugins add CLI subcommands."""
        self.call_each("aloe_register_commands", lambda impl: {"cli": cli})

    def emit(self, event: Any) -> None:
        """Send ``event`` to every observer; an observer that raises becomes a warning."""
        for impl in self.pm.hook.aloe_on_event.get_hookimpls():
            try:
                impl.function(**{a: event for a in impl.argnames if a == "event"})
            except Exception as exc:  # observers must never stop a run
                warnings.warn(f"aloe-bench: observer {impl.plugin_name!r} failed on "
                              f"{type(event).__name__}: {exc!r}", stacklevel=2)

    def plugin_infos(self) -> list[PluginInfo]:
        """One :class:`PluginInfo` per loaded plugin, built-ins first."""
        infos: dict[str, PluginInfo] = {}
        for name, plugin in self.pm.list_name_plugin():
            dist, version, builtin = self._dists.get(name, ("?", "", False))
            hooks = sorted(h.name for h in self.pm.get_hookcallers(plugin) or [])
            infos[name] = PluginInfo(name, dist, version, builtin, hooks)
        for key, reg in self.registries.items():
            for entry in reg:
                if entry.plugin in infos:
                    infos[entry.plugin].registered.setdefault(key, []).append(entry.name)
        return sorted(infos.values(), key=lambda i: (not i.builtin, i.name))

    def versions(self) -> dict[str, str]:
        """Distribution -> version of every loaded plugin distribution."""
        return {d: v for d, v, _ in self._dists.values()}

    def distribution_of(self, plugin_name: str) -> tuple[str, str]:
        """(distribution name, version) that ships the plugin registered as ``plugin_name``.

        Entry-point plugins and built-ins are attributed when loaded. A plugin object registered
        in-process (``extra_plugins``) is attributed to the installed distribution its module
        belongs to; one that belongs to none (a script, a test module) to aloe-bench itself.
        """
        dist, version, _ = self._dists.get(plugin_name, ("", "", False))
        if version:
            return dist, version
        plugin = self.pm.get_plugin(plugin_name)
        if isinstance(plugin, types.ModuleType):
            module = plugin.__name__
        else:
            module = getattr(plugin if isinstance(plugin, type) else type(plugin), "__module__", None) or ""
        return module_distribution(module) or ("aloe-bench", __version__)


def core_incompatibility(dist: Any, core_version: str = __version__) -> str | None:
    """Why the plugin distribution ``dist`` (an ``importlib.metadata.Distribution``) cannot run on
    this core, or None when it can.

    A plugin declares the core versions it supports the standard way, as a requirement on
    ``aloe-bench`` in its dependencies (``aloe-bench>=0.1,<0.2``). pip honours it at install time,
    but not when the core is upgraded later or a plugin is installed with ``--no-deps``; the host
    checks it again at load. A requirement that applies only under an extra or a marker that does
    not hold here is ignored; one without a version range accepts every core.
    """
    requires = getattr(dist, "requires", None) or []  # None: no metadata to check
    if not requires:
        return None
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    for line in requires:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        if canonicalize_name(req.name) != "aloe-bench" or not req.specifier:
            continue
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        if not req.specifier.contains(core_version, prereleases=True):
            name = dist.metadata["Name"] or "?"
            return (f"{name} {dist.version} supports aloe-bench {req.specifier}, but aloe-bench "
                    f"{core_version} is installed. Install matching versions "
                    f"(pip install \"aloe-bench{req.specifier}\", or upgrade {name}).")
    return None


@functools.lru_cache(maxsize=1)
def _packages_distributions() -> Mapping[str, list[str]]:
    from importlib.metadata import packages_distributions

    return packages_distributions()


def module_distribution(module: str) -> tuple[str, str] | None:
    """(distribution name, version) of the installed distribution that provides ``module``
    (a dotted module name), or None when no installed distribution does."""
    from importlib.metadata import PackageNotFoundError, version

    top = module.split(".", 1)[0]
    for dist in _packages_distributions().get(top, []) if top else []:
        try:
            return dist, version(dist)
        except PackageNotFoundError:
            continue
    return None


@functools.lru_cache(maxsize=1)
def default_host() -> PluginHost:
    """The process-wide host built from the installed plugins and the environment.

    Tests build their own :class:`PluginHost` instead of resetting this one.
    """
    return PluginHost()


