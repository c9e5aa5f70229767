"""Explain options are declared once (sasc/config.py, sasc/ngrams.py); the proto, the CLI, the
server's limits and docs/options.md follow those declarations."""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import pytest

from sasc.config import ExplainConfig
from sasc.errors import ConfigError
from sasc.options import field_docs, job_ranges, option_fields, options_table, with_options

ROOT = Path(__file__).resolve().parents[1]
OPTIONS = option_fields(ExplainConfig)


def test_the_settings_message_and_the_config_have_the_same_options():
    from google.protobuf.descriptor import FieldDescriptor as F

    from sasc._grpc import jobs_pb2

    proto = {f.name: f for f in jobs_pb2.ExplainSettings.DESCRIPTOR.fields}
    assert sorted(proto) == sorted(o.name for o in OPTIONS), \
        "ExplainSettings (proto/sasc/v1/jobs.proto) and the options of ExplainConfig disagree"
    scalar = {int: (F.TYPE_INT32, F.TYPE_INT64), bool: (F.TYPE_BOOL,), str: (F.TYPE_STRING,), tuple: (F.TYPE_STRING,),
              float: (F.TYPE_DOUBLE,)}
    for o in OPTIONS:
        f = proto[o.name]
        assert f.type in scalar[o.type], f"{o.name}: proto type {f.type} for a {o.type.__name__} option"
        repeated = f.is_repeated
        assert repeated == (o.type is tuple), f"{o.name}: a list option is a repeated field and only it"
        assert repeated or f.has_presence, f"{o.name}: a scalar setting needs `optional` (unset = the default)"
        if f.type == F.TYPE_INT32 and o.spec.job_max is not None:
            assert o.spec.job_max < 2**31, f"{o.name}: the job limit does not fit the int32 field"


def test_the_direction_settings_message_and_the_direction_config_agree():
    from google.protobuf.descriptor import FieldDescriptor as F

    from sasc._grpc import jobs_pb2
    from sasc.directions import DirectionConfig

    proto = {f.name: f for f in jobs_pb2.DirectionSettings.DESCRIPTOR.fields}
    options = option_fields(DirectionConfig)
    assert sorted(proto) == sorted(o.name for o in options)
    scalar = {int: (F.TYPE_INT32, F.TYPE_INT64), float: (F.TYPE_DOUBLE,), str: (F.TYPE_STRING,)}
    for o in options:
        assert proto[o.name].type in scalar[o.type] and proto[o.name].has_presence, o.name
        assert o.help and o.spec.flag, o.name
        assert o.spec.job_max is not None or o.type is str, f"{o.name}: a number a job sets needs a limit"


def test_every_option_has_help_text_and_a_default_the_library_accepts():
    for o in OPTIONS:
        assert o.help and o.help == " ".join(o.help.split()), o.name
        assert "``" not in o.help, f"{o.name}: the help line is shown on the command line, keep it plain"
        assert o.spec.min is None or o.default >= o.spec.min
    assert ExplainConfig() == with_options(ExplainConfig(), {})


def test_field_docs_reads_the_docstring_under_each_field():
    @dataclasses.dataclass
    class Example:
        a: int = 1
        """First line.

        More."""
        b: int = 2
        c: int = 3
        """About c."""

    assert field_docs(Example) == {"a": "First line.\n\nMore.", "c": "About c."}


def test_minimums_are_enforced_with_the_field_name():
    for o in OPTIONS:
        if o.spec.min is None:
            continue
        with_options(ExplainConfig(), {o.name: o.spec.min})  # the minimum itself is accepted
        with pytest.raises(ConfigError, match=f"{o.name} must be >= {o.spec.min}, got {o.spec.min - 1}"):
            with_options(ExplainConfig(), {o.name: o.spec.min - 1})


def test_with_options_reaches_nested_settings_and_rejects_unknown_names():
    config = with_options(ExplainConfig(), {"max_n": 2, "lowercase": True, "n_candidates": 4})
    assert (config.ngrams.max_n, config.ngrams.lowercase, config.n_candidates) == (2, True, 4)
    assert config.ngrams.min_count == ExplainConfig().ngrams.min_count
    with pytest.raises(ConfigError, match="unknown options"):
        with_options(ExplainConfig(), {"n_candidate": 4})


def test_server_job_limits_come_from_the_declarations():
    from server.converters import SETTING_RANGES

    assert SETTING_RANGES == job_ranges(ExplainConfig)
    assert SETTING_RANGES["n_candidates"] == (1, 50) and SETTING_RANGES["seed"] == (0, 2**32 - 1)
    assert {o.name for o in OPTIONS if o.type in (int, float)} == set(SETTING_RANGES)  # every number is bounded per job


def test_every_flag_reaches_its_field():
    from sasc.cli import build_parser, method_config

    for argv in (["explain"], ["fmri", "explain", "model.npz"], ["benchmark", "d3"]):
        flags, expected = [], {}
        for o in OPTIONS:
            if not o.spec.flag or (argv[0] == "benchmark" and not o.spec.benchmark):
                continue
            if argv[0] == "benchmark" and o.name == "method":
                continue  # a list there, methods side by side (tests/test_d3.py)
            if o.type in (int, float):
                value = o.default + 1
                flags += [o.spec.flag, str(value)]
            elif o.type is tuple:
                value = tuple(reversed(o.spec.accepted))
                flags += [o.spec.flag, ",".join(value)]
            elif o.type is bool:
                value = not o.default
                flags += [o.spec.flag, str(value).lower()]
            else:
                value = next(c for c in o.spec.accepted if c != o.default)
                flags += [o.spec.flag, value]
            expected[o.name] = value
        config = method_config(build_parser().parse_args(argv + flags))
        assert config == with_options(ExplainConfig(), expected)
        assert config != ExplainConfig()


def test_options_page_is_current():
    spec = importlib.util.spec_from_file_location("gen_options_doc", ROOT / "scripts" / "gen_options_doc.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    assert options_table(ExplainConfig) in gen.render()
    assert (ROOT / "docs" / "options.md").read_text(encoding="utf-8") == gen.render(), \
        "docs/options.md is stale: run python scripts/gen_options_doc.py"


def test_d3_run_keys_leave_out_the_options_added_later_at_their_legacy_value():
    from sasc.bench.d3 import KEY_ADDED_SETTINGS

    assert KEY_ADDED_SETTINGS == {"synthetic_style": "about", "direct_screen": 0, "form_repair": False,
                                  "readable_ranking": False, "fluency_model": "smollm2", "evidence": "input",
                                  "method": "single", "iter_rounds": 6, "iter_tokens": 12000, "iter_seconds": 180,
                                  "iter_stop_sigma": 4.0}
