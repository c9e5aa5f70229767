"""What a request may name on the server's disk: files under the operator's roots, listed helpers.

One rule for every path a request can carry (module parameters naming arrays, model folders,
encoding models): the path is resolved, symlinks included, and must lie under one of the data
roots the operator configured (``--data-root``). A relative path is looked up under each root
in turn. URL schemes (any letter case), ``~``, NUL bytes and non-strings are refused. A path that
is outside the roots and a path that does not exist get the same :data:`NOT_ALLOWED` message,
so a client cannot probe what exists. Model names that are not packaged aliases are refused too:
the server never reaches a model hub for a client. Parameters that would choose where the server
writes (``cache_dir``) are refused outright.

Helper specs come from an allow-list (``--allowed-helpers``): exact specs, or ``kind:*`` where
``*`` stands for a packaged model name (``local:*``) or a remote model name (``openai:*``),
never for a path.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sasc.errors import ConfigError

NOT_ALLOWED = ("parameter {key!r}: not allowed or not there (module parameters may name files under this "
               "server's data roots and packaged models only; the operator widens the roots with --data-root)")
"""The one message for a path outside the roots, a missing file and a model name that is not packaged."""

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
FILE_PARAMS = {
    "dictionary_factor": {"dictionary": "file", "encoder": "model"},
    "llm_neuron": {"model": "model"},
    "llm_direction": {"model": "model", "directions": "file"},
    "embedding_distance": {"model": "model"},
    "fmri_voxels": {"model": "file"},
}
"""Parameters of the built-in kinds that name something on disk: ``file`` (a path only) or
``model`` (a packaged alias or a path)."""
WRITE_PARAMS = ("cache_dir",)
"""Parameters that choose where the server writes: never accepted from a request."""
TEXT_PARAMS = ("keyphrase", "keyphrases", "units", "name", "feature_model", "key", "site", "aggregation", "dtype",
               "device")
"""Parameters holding words, never paths (a keyphrase may contain "/"; ``device`` is checked on its own)."""
MAX_PARAM_STRING = 4096
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-/]{0,127}$")


def packaged_models() -> set[str]:
    """Model names the server resolves from installed packages, never from a hub."""
    from sasc.llm.assets import MODEL_ASSETS
    from sasc.modules.causal_lm import DEFAULT_CAUSAL_LM
    from sasc.modules.embedding import DEFAULT_ENCODER

    return {DEFAULT_ENCODER, "sentence-transformers/" + DEFAULT_ENCODER, DEFAULT_CAUSAL_LM,
            "smollm2", "smollm2-135m-instruct", "smollm2-135m", "SmolLM2-135M", *MODEL_ASSETS}


def packaged_model_roots() -> list[Path]:
    """Folders of the packaged models (allowed by default, so their paths work too)."""
    roots = []
    try:
        from sasc.modules.embedding import default_encoder_path

        roots.append(Path(default_encoder_path()))
    except Exception:  # noqa: BLE001 - a missing optional package just adds no root
        pass
    try:
        from sasc.llm.assets import smollm2_gguf_path

        roots.append(smollm2_gguf_path().parent)
    except Exception:  # noqa: BLE001
        pass
    return roots


def _resolved(paths: Iterable[str | Path]) -> tuple[Path, ...]:
    out = []
    for p in paths:
        try:
            out.append(Path(p).expanduser().resolve(strict=True))
        except (OSError, RuntimeError):
            continue  # a root that is not there allows nothing
    return tuple(dict.fromkeys(out))


@dataclass(frozen=True)
class PathPolicy:
    """Resolves request-named paths under ``roots``; see the module docstring."""

    roots: tuple[Path, ...]
    """Resolved folders a request may name files under."""
    models: frozenset[str] = frozenset()
    """Packaged model names accepted where a ``model`` parameter may be a name."""

    @classmethod
    def from_roots(cls, roots: Iterable[str | Path], models: Iterable[str] = ()) -> "PathPolicy":
        return cls(_resolved(roots), frozenset(models))

    def contain(self, value: Any, key: str) -> Path:
        """The resolved path ``value`` names under a root; ConfigError(:data:`NOT_ALLOWED`) otherwise."""
        refuse = ConfigError(NOT_ALLOWED.format(key=key))
        if (not isinstance(value, str) or not value.strip() or "\x00" in value or len(value) > MAX_PARAM_STRING
                or value.startswith("~") or _SCHEME.match(value)):
            raise refuse
        p = Path(value)
        for candidate in ([p] if p.is_absolute() else [root / p for root in self.roots]):
            try:
                real = candidate.resolve(strict=True)
            except (OSError, RuntimeError, ValueError):
                continue
            if any(real == root or real.is_relative_to(root) for root in self.roots):
                return real
        raise refuse

    def check_params(self, kind: str, params: dict[str, Any]) -> dict[str, Any]:
        """``params`` with every path parameter replaced by its resolved path; raises ConfigError."""
        check_values(params)
        out = dict(params)
        for key in WRITE_PARAMS:
            if key in out:
                raise ConfigError(f"parameter {key!r} is chosen by the server, not by a request")
        named = FILE_PARAMS.get(kind, {})
        for key, value in params.items():
            if key in named:
                out[key] = self._named(value, key, named[key])
            elif key not in TEXT_PARAMS:
                _refuse_pathlike(value, key)
        return out

    def _named(self, value: Any, key: str, what: str) -> Any:
        if value is None or (what == "file" and isinstance(value, list)):
            return value  # unset, or an inline array
        if not isinstance(value, str):
            raise ConfigError(f"parameter {key!r} must be a string (a packaged model name or a path under the "
                              f"server's data roots), got {type(value).__name__}")
        if what == "model" and value in self.models:
            return value
        return str(self.contain(value, key))


def _refuse_pathlike(value: Any, key: str) -> None:
    """Parameters no built-in kind reads as a path may not look like one either."""
    if isinstance(value, dict):
        for k, v in value.items():
            _refuse_pathlike(v, k)
    elif isinstance(value, list):
        for v in value:
            _refuse_pathlike(v, key)
    elif isinstance(value, str) and (value.startswith(("/", "~", "\\", ".")) or "\x00" in value or _SCHEME.match(value)
                                     or "/" in value or "\\" in value):
        raise ConfigError(NOT_ALLOWED.format(key=key))


def check_values(value: Any, key: str = "params") -> None:
    """Numbers must be finite, strings bounded and free of NUL (ConfigError otherwise)."""
    if isinstance(value, dict):
        for k, v in value.items():
            check_values(v, k)
    elif isinstance(value, list):
        for v in value:
            check_values(v, key)
    elif isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"parameter {key!r} holds NaN or inf; numbers must be finite")
    elif isinstance(value, str) and ("\x00" in value or len(value) > MAX_PARAM_STRING):
        raise ConfigError(f"parameter {key!r}: strings must be at most {MAX_PARAM_STRING} characters without NUL")


def check_device(value: Any, n_cuda: int) -> None:
    """``device`` may be ``cpu``, ``cuda`` or ``cuda:N`` for a visible GPU N (ConfigError otherwise)."""
    if value is None:
        return
    ok = isinstance(value, str) and (value == "cpu" or (n_cuda > 0 and value == "cuda") or
                                     (re.fullmatch(r"cuda:\d{1,3}", value) is not None and int(value[5:]) < n_cuda))
    if not ok:
        shown = str(value)[:40]
        raise ConfigError(f"device {shown!r} is not available on this server; use 'cpu'" +
                          (f", 'cuda' or 'cuda:0'..'cuda:{n_cuda - 1}'" if n_cuda else " (no GPU here)"))


# ---------------------------------------------------------------- helpers

@dataclass(frozen=True)
class HelperPolicy:
    """Helper specs a job may name: exact specs and ``kind:*`` patterns."""

    allowed: tuple[str, ...]
    """Normalized entries of ``--allowed-helpers``."""

    @classmethod
    def parse(cls, text: str) -> "HelperPolicy":
        from sasc.lists import split_list

        return cls(tuple(_normal(s) for s in split_list(text)))

    def check(self, spec: str) -> str:
        """The normalized spec when allowed; ConfigError listing the allowed ones otherwise."""
        if not isinstance(spec, str) or len(spec) > 200 or "\x00" in spec:
            raise ConfigError(f"helper spec not allowed on this server; allowed: {', '.join(self.allowed)}")
        norm = _normal(spec)
        kind, _, arg = norm.partition(":")
        for entry in self.allowed:
            ekind, _, earg = entry.partition(":")
            if entry == norm or (earg == "*" and ekind == kind and _wild(kind, arg)):
                return norm
        raise ConfigError(f"helper spec {spec[:60]!r} not allowed on this server; allowed: {', '.join(self.allowed)}")


def _normal(spec: str) -> str:
    kind, colon, arg = spec.strip().partition(":")
    return kind.lower() + colon + arg.strip()


def _wild(kind: str, arg: str) -> bool:
    """What ``kind:*`` matches: packaged model names for ``local``, plain model names otherwise."""
    if kind == "local":
        from sasc.llm.assets import MODEL_ASSETS

        return arg in MODEL_ASSETS
    return bool(_NAME.match(arg)) and ".." not in arg and not arg.endswith(".gguf")


def default_roots(data_dir: Path, extra: Sequence[str]) -> list[Path]:
    """``--data-root`` folders, or by default the server's ``data/`` folder; packaged models always."""
    return [*(Path(r) for r in extra), *([] if extra else [data_dir]), *packaged_model_roots()]
