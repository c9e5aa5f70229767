"""`sasc benchmark compare`: pairing two D3 output folders run by run, the sign test, the report.

Fast: hand-made records written with the benchmark's own writer; no model is loaded.
"""

from __future__ import annotations

import json
import math

import pytest

from sasc.bench.compare import compare_records, format_comparison, read_records, sign_test_p
from sasc.bench.d3 import record_path, save_record
from sasc.bench.tasks import D3Task
from sasc.cli import main
from sasc.errors import ConfigError, CorpusError

from d3_records import rec


def write(out, records):
    for r in records:
        task = D3Task(r.index, r.task, r.task, r.keyphrase, r.check_regex, None)
        save_record(record_path(out, r.setting, r.seed, task), r)
    return out


BASE = [rec("default", 0, 0, ["food", "sport"], [2.0, 1.0], "food"),       # right in both
        rec("default", 0, 1, ["rain", "sport"], [1.5, 0.5], "sport"),      # wrong -> right
        rec("default", 1, 1, ["sport"], [1.0], "sport"),                   # right -> wrong
        rec("default", 1, 2, ["cooking"], [1.0], "water"),                 # wrong in both
        rec("default", 2, 3, ["water"], [1.0], "water"),                   # base only
        rec("noisy", 0, 0, ["rain"], [1.0], "food")]                       # wrong -> right
NEW = [rec("default", 0, 0, ["food"], [2.5], "food", calls=5),
       rec("default", 0, 1, ["sport", "rain"], [2.0, 1.0], "sport", calls=5),
       rec("default", 1, 1, ["weather", "sport"], [2.0, 1.0], "sport", calls=5),
       rec("default", 1, 2, ["baking"], [1.0], "water", calls=5),
       rec("noisy", 0, 0, ["food"], [1.0], "food"),
       rec("noisy", 1, 0, ["food"], [1.0], "food")]                        # new only


@pytest.mark.parametrize("gained, lost, p", [
    (0, 0, 1.0), (1, 1, 1.0), (0, 5, 2 / 32), (5, 0, 2 / 32),
    (1, 9, 2 * (1 + 10) / 1024),  # two-sided tail of Binomial(10, 1/2) at <= 1
    (3, 4, 1.0),                   # capped at 1
])
def test_sign_test_by_hand(gained, lost, p):
    assert sign_test_p(gained, lost) == pytest.approx(p)


def test_sign_test_rejects_negative_counts():
    with pytest.raises(ValueError):
        sign_test_p(-1, 2)


def test_compare_pairs_runs_and_lists_what_changed(tmp_path):
    base, new = read_records(write(tmp_path / "a", BASE)), read_records(write(tmp_path / "b", NEW))
    default, noisy = compare_records(base, new)
    assert (default.setting, default.n_paired, default.only_base, default.only_new) == ("default", 4, 1, 0)
    assert (default.base.top1, default.new.top1, default.base.any_candidate, default.new.any_candidate) == (2, 2, 3, 3)
    assert [(c.seed, c.task, c.base, c.new) for c in default.gained] == [(0, "t1", "rain", "sport")]
    assert [(c.seed, c.task, c.base, c.new) for c in default.lost] == [(1, "t1", "sport", "weather")]
    assert default.p_value == 1.0
    assert (default.base.calls, default.new.calls, default.base.cached_calls) == (12, 20, 4)
    assert (default.base.seconds, default.new.seconds) == (8.0, 8.0)
    assert (noisy.n_paired, noisy.only_new, len(noisy.gained), len(noisy.lost)) == (1, 1, 1, 0)
    text = format_comparison([default, noisy])
    assert "default: 4 paired runs" in text
    assert "top-1          2 -> 2 (+0)   50.0% -> 50.0%" in text
    assert "1 gained, 1 lost; sign test p = 1  (within what chance gives)" in text
    assert "gained seed 0 t1: 'rain' -> 'sport'" in text and "lost   seed 1 t1: 'sport' -> 'weather'" in text
    assert "1 run(s) in base only, 0 in new only" in text


def test_compare_only_the_settings_asked_for():
    only = compare_records(BASE, NEW, ["restricted", "noisy"])
    assert [c.setting for c in only] == ["restricted", "noisy"]
    assert only[0].n_paired == 0 and math.isclose(only[0].p_value, 1.0)
    assert "restricted: no run in both folders (0 in base only, 0 in new only)" in format_comparison(only)


def test_unknown_settings_and_negative_listing_limits_are_config_errors():
    with pytest.raises(ConfigError, match=r"unknown D3 setting\(s\) \['dflt'\]"):
        compare_records(BASE, NEW, ["default", "dflt"])
    with pytest.raises(ConfigError, match="unknown D3 setting"):
        compare_records(BASE, NEW, [])
    with pytest.raises(ConfigError, match="max_listed"):
        format_comparison(compare_records(BASE, NEW), max_listed=-1)


def test_many_changes_are_listed_up_to_the_limit():
    base = [rec("default", 0, i, ["x"], [1.0], "food") for i in range(12)]
    new = [rec("default", 0, i, ["food"], [1.0], "food") for i in range(12)]
    (c,) = compare_records(base, new)
    assert len(c.gained) == 12 and c.p_value == pytest.approx(2 / 4096)
    text = format_comparison([c], max_listed=3)
    assert text.count("gained seed 0") == 3 and "gained ... and 9 more" in text
    assert "within what chance gives" not in text
    assert "gained" in format_comparison([c], max_listed=0).split("\n")[3]  # the count line only
    assert "seed" not in format_comparison([c], max_listed=0)


def test_read_records_errors_name_the_folder_and_the_bad_file(tmp_path):
    with pytest.raises(CorpusError, match="no D3 records under"):
        read_records(tmp_path)
    write(tmp_path, BASE[:1])
    bad = tmp_path / "records" / "default" / "seed0" / "t9.json"
    bad.write_text("{not json")
    with pytest.raises(CorpusError, match="t9.json"):
        read_records(tmp_path)


def test_cli_compare_prints_the_report_and_writes_json(tmp_path, capsys):
    a, b = write(tmp_path / "a", BASE), write(tmp_path / "b", NEW)
    out = tmp_path / "cmp.json"
    assert main(["benchmark", "compare", str(a), str(b), "--settings", "default", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "default: 4 paired runs" in text and "noisy" not in text
    doc = json.loads(out.read_text())
    assert doc["base"] == str(a) and [s["setting"] for s in doc["settings"]] == ["default"]
    assert doc["settings"][0]["gained"][0]["task"] == "t1"


def test_cli_compare_errors(tmp_path, capsys):
    a = write(tmp_path / "a", BASE)
    assert main(["benchmark", "compare", str(a), str(tmp_path / "none")]) == 2
    assert "no D3 records under" in capsys.readouterr().err
    assert main(["benchmark", "compare", str(a), str(a), "--settings", "dflt"]) == 2
    assert "unknown D3 setting" in capsys.readouterr().err
    assert main(["benchmark", "compare", str(a), str(a), "--max-listed", "-1"]) == 2
    assert "--max-listed" in capsys.readouterr().err
