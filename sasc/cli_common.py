"""What the ``sasc`` subcommands share (`explain`, `benchmark d3`, `fmri explain`...): the explain
option flags derived from :class:`~sasc.config.ExplainConfig`, progress bars, the cache root and
integer lists. The top-level parser (:mod:`sasc.cli`) imports the subcommands; they import this."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path
from typing import Any

from .config import ExplainConfig
from .lists import parse_ranges, split_list
from .options import option_fields, with_options
from .progress import ProgressEvent


def _cache_dir(args: argparse.Namespace) -> Path | None:
    value = args.cache_dir or os.environ.get("SASC_CACHE")
    return Path(value) if value else None


class TqdmProgress:
    """Draws one tqdm bar per stage from library progress events.

    On a terminal the bars redraw at most every 0.1 s; written to a file or pipe (a log), at most
    every ``log_interval`` seconds and when a stage completes, so logs stay short.
    """

    def __init__(self, enabled: bool = True, file: Any = None, log_interval: float = 30.0):
        self.enabled = enabled
        self.file = file if file is not None else sys.stderr
        isatty = getattr(self.file, "isatty", None)
        self.interval = 0.1 if isatty is not None and isatty() else log_interval
        self.bars: dict[str, Any] = {}
        self._drawn: dict[str, float] = {}

    def __call__(self, ev: ProgressEvent) -> None:
        if not self.enabled:
            return
        import time

        from tqdm import tqdm

        bar = self.bars.get(ev.stage)
        if bar is None:
            # disable=False: ``enabled`` decides; a tqdm first imported under TQDM_DISABLE (a --quiet command
            # loading a model in this process) would otherwise keep every later bar off
            bar = self.bars[ev.stage] = tqdm(total=ev.total or None, desc=ev.stage, unit="it", file=self.file,
                                             dynamic_ncols=True, leave=True, disable=False)
            self._drawn[ev.stage] = time.monotonic()
        if ev.total and bar.total != ev.total:
            bar.total = ev.total
        bar.n = ev.done
        if ev.detail:
            bar.set_postfix_str(ev.detail[:40], refresh=False)
        now = time.monotonic()
        if now - self._drawn[ev.stage] >= self.interval or (ev.total and ev.done >= ev.total):
            bar.refresh()
            self._drawn[ev.stage] = now

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


def add_method_args(p: argparse.ArgumentParser, benchmark: bool = False, skip: tuple[str, ...] = ()) -> None:
    """One flag per explain option that has one (see :mod:`sasc.options`), for `sasc explain`,
    `sasc fmri explain` and (``benchmark``: without the options it sets per run) `sasc benchmark d3`;
    :func:`method_config` reads them. Help texts and defaults come from :class:`ExplainConfig`;
    ``skip``: options a command sets itself."""
    add_option_args(p, ExplainConfig, lambda o: o.name not in skip and (not benchmark or o.spec.benchmark))


def add_option_args(p: argparse.ArgumentParser, cls: type, keep: Any = lambda o: True) -> None:
    """One flag per option of dataclass ``cls`` that declares one and that ``keep(option)`` accepts."""
    for o in option_fields(cls):
        if not o.spec.flag or not keep(o):
            continue
        zero = f": {o.spec.zero}" if o.spec.zero and o.default == 0 else ""
        p.add_argument(o.spec.flag, dest=o.name, type=_flag_type(o.type), default=o.default_text,
                       choices=o.spec.accepted if o.type is str else None,
                       metavar=None if o.spec.choices and o.type is str else o.spec.flag[2:].upper().replace("-", "_"),
                       help=f"{o.help.rstrip('.')} (default: {o.default_text}{zero})")


def _flag_type(t: type) -> Any:
    if t is bool:
        return parse_bool
    return (lambda text: tuple(split_list(text))) if t is tuple else t


def parse_bool(text: str) -> bool:
    """A flag's true/false value: true, false, yes, no, on, off, 1, 0 (any case)."""
    value = {"true": True, "yes": True, "on": True, "1": True,
             "false": False, "no": False, "off": False, "0": False}.get(str(text).strip().lower())
    if value is None:
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
    return value


def options_from_args(cls: type, args: argparse.Namespace) -> Any:
    """An instance of options dataclass ``cls``: its defaults, with the flags of :func:`add_option_args` found on ``args``."""
    return with_options(cls(), {o.name: getattr(args, o.name) for o in option_fields(cls) if hasattr(args, o.name)})


def method_config(args: argparse.Namespace, **fields: Any) -> ExplainConfig:
    """The default config with the options of :func:`add_method_args` found on ``args``, and ``fields``, applied."""
    return dataclasses.replace(options_from_args(ExplainConfig, args), **fields)


def parse_ints(value: str | None, what: str) -> list[int] | None:
    """Integers from ``"0,1,5-9"`` (None for an empty value); ``what`` names the option in the error."""
    if value is None or not value.strip():
        return None
    try:
        return parse_ranges(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{what} must be integers or ranges like 0,1,5-9, got {value!r}") from None
