"""Explain options: what sits beside each field of :class:`~sasc.config.ExplainConfig`, and what is
derived from it.

An *option* is a config field declared with :func:`option`: its default, the smallest value the
library accepts, the largest one job of the service may ask for, its ``sasc`` flag (if any) and
choices sit in the declaration, and its help text is the field's docstring (first paragraph). From
these the CLI flags (:mod:`sasc.cli_common`), the library's range checks (:func:`check_minimums`),
the server's job limits (:func:`job_ranges`) and the option table in ``docs/options.md``
(:func:`options_table`) are built. Every option is also a field of the ``ExplainSettings`` proto
message (a test compares them), so adding one is: one field here, one proto field, regenerate.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import textwrap
from dataclasses import MISSING, dataclass
from functools import cache
from typing import Any

from .errors import ConfigError

_KEY = "sasc.option"
NO_LEGACY: Any = object()
"""``Option.legacy`` of an option that was there from the start."""


@dataclass(frozen=True)
class Option:
    """What a config field's declaration says about it besides its default."""

    flag: str | None = None
    """Its ``sasc`` flag (``--candidates``); None: not on the command line."""
    min: int | None = None
    """Smallest value the library accepts (None: no lower bound)."""
    job_max: int | None = None
    """Largest value one job of the service may ask for (None: no upper bound)."""
    zero: str = ""
    """What the value 0 means, said in help texts (``"off"``)."""
    choices: Any = None
    """Accepted values of a string option, or of each item of a list option: a tuple, or a
    :class:`~sasc.registry.Registry` whose names are accepted (plug-ins included); see :attr:`accepted`."""
    benchmark: bool = True
    """Whether ``sasc benchmark d3`` takes the flag too (False: it sets the value per run itself)."""
    legacy: Any = NO_LEGACY
    """For an option added after D3 records were first kept: the value that reproduces the behaviour
    from before it existed. D3 run keys leave the option out at that value, so finished runs (hours
    of helper time) stay valid (:func:`sasc.bench.d3.run_key`); any other value is part of the key."""

    @property
    def accepted(self) -> tuple[str, ...] | None:
        """The accepted values now (a registry's names when ``choices`` is one); None: any."""
        return tuple(self.choices.names()) if hasattr(self.choices, "names") else self.choices


def option(default: Any = MISSING, *, default_factory: Any = MISSING, flag: str | None = None,
           min: int | None = None, job_max: int | None = None, zero: str = "",  # noqa: A002
           choices: Any = None, benchmark: bool = True, legacy: Any = NO_LEGACY) -> Any:
    """A dataclass field that is an explain option (see :class:`Option`); document it with a docstring."""
    meta = {_KEY: Option(flag, min, job_max, zero, choices, benchmark, legacy)}
    return dataclasses.field(default=default, default_factory=default_factory, metadata=meta)


@dataclass(frozen=True)
class OptionField:
    """One option as the derived places see it: a field of the config or of a nested settings object."""

    name: str
    """Field name; also the proto field and the server's setting name."""
    owner: type
    """The dataclass declaring it (``ExplainConfig`` or ``NgramSettings``)."""
    default: Any
    """Its default value."""
    type: type
    """``int``, ``bool``, ``str`` or ``tuple`` (a list of strings)."""
    spec: Option
    """What its declaration says."""
    help: str
    """The first paragraph of its docstring, on one line."""

    @property
    def default_text(self) -> str:
        """The default as a flag value (lists comma-separated)."""
        return ",".join(self.default) if isinstance(self.default, tuple) else str(self.default)


@cache
def field_docs(cls: type) -> dict[str, str]:
    """The docstring under each field of a dataclass, from its source (``{}`` when no source)."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError):
        return {}
    body = tree.body[0].body
    docs = {}
    for node, after in zip(body, body[1:]):
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant) and isinstance(after.value.value, str)):
            docs[node.target.id] = inspect.cleandoc(after.value.value)
    return docs


def _first_paragraph(doc: str) -> str:
    return " ".join(doc.split("\n\n")[0].split())


def option_fields(cls: type) -> list[OptionField]:
    """The options of dataclass ``cls`` in declaration order; nested dataclass fields holding options
    (``ExplainConfig.ngrams``) are flattened into the list where they are declared."""
    out: list[OptionField] = []
    docs = field_docs(cls)
    for f in dataclasses.fields(cls):
        if _KEY in f.metadata:
            default = f.default if f.default is not MISSING else f.default_factory()
            out.append(OptionField(f.name, cls, default, type(default), f.metadata[_KEY],
                                   _first_paragraph(docs.get(f.name, ""))))
        elif f.default_factory is not MISSING and dataclasses.is_dataclass(nested := f.default_factory()):
            out.extend(option_fields(type(nested)))
    return out


def check_minimums(obj: Any) -> None:
    """Raise :class:`ConfigError` for the first option of ``obj`` below its declared minimum."""
    for f in dataclasses.fields(obj):
        spec = f.metadata.get(_KEY)
        if spec is not None and spec.min is not None and getattr(obj, f.name) < spec.min:
            raise ConfigError(f"{f.name} must be >= {spec.min}, got {getattr(obj, f.name)}")


def check_choices(obj: Any) -> None:
    """Raise :class:`ConfigError` for the first string option of ``obj`` not among its declared choices."""
    for f in dataclasses.fields(obj):
        spec = f.metadata.get(_KEY)
        value = getattr(obj, f.name)
        if spec is not None and spec.choices and isinstance(value, str) and value not in spec.accepted:
            raise ConfigError(f"{f.name} must be one of {', '.join(map(repr, spec.accepted))}, got {value!r}")


def job_ranges(cls: type) -> dict[str, tuple[int, int]]:
    """``{setting: (low, high)}``: what one job of the service may ask for, per bounded option."""
    return {o.name: (o.spec.min, o.spec.job_max) for o in option_fields(cls) if o.spec.job_max is not None}


def options_table(cls: type) -> str:
    """The Markdown table of ``docs/options.md``: every option with its flag, default, ranges and help."""
    rows = ["| option (proto field) | `sasc` flag | default | library accepts | one service job | meaning |",
            "|---|---|---|---|---|---|"]
    for o in option_fields(cls):
        flag = f"`{o.spec.flag}`" if o.spec.flag else "—"
        if not o.spec.benchmark and o.spec.flag:
            flag += " (not `benchmark d3`)"
        if o.spec.choices:
            accepts = ("a non-empty list of " if o.type is tuple else "") + ", ".join(f"`{c}`" for c in o.spec.accepted)
        elif o.spec.min is not None:
            accepts = f"≥ {o.spec.min}"
        else:
            accepts = "true, false" if o.type is bool else "any"
        job = f"{o.spec.min}..{o.spec.job_max:,}" if o.spec.job_max is not None else "as the library"
        default = f"`{o.default_text}`" + (f" ({o.spec.zero})" if o.spec.zero and o.default == 0 else "")
        rows.append(f"| `{o.name}` | {flag} | {default} | {accepts} | {job} | {o.help} |")
    return "\n".join(rows) + "\n"


def with_options(obj: Any, values: dict[str, Any]) -> Any:
    """``obj`` (a config) with options set by flat name (``max_n`` reaches ``obj.ngrams.max_n``)."""
    values = dict(values)
    changes = {}
    for f in dataclasses.fields(obj):
        if f.name in values and _KEY in f.metadata:
            changes[f.name] = values.pop(f.name)
        elif dataclasses.is_dataclass(nested := getattr(obj, f.name)) and not isinstance(nested, type):
            own = {n.name for n in dataclasses.fields(nested) if _KEY in n.metadata}
            if own & set(values):
                changes[f.name] = with_options(nested, {k: values.pop(k) for k in own & set(values)})
    if values:
        raise ConfigError(f"unknown options {sorted(values)}; known: {[o.name for o in option_fields(type(obj))]}")
    return dataclasses.replace(obj, **changes)
