"""scripts/readme_sample.py: the README's sample output is replaced between its markers only."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("readme_sample", ROOT / "scripts" / "readme_sample.py")
readme_sample = importlib.util.module_from_spec(spec)
spec.loader.exec_module(readme_sample)

OUTPUT = """module: x   helper: llama.cpp:q
reference corpus: news (1 n-grams)   generic corpus: g

== unit food and cooking
top n-grams: food
       σ          95% CI  explanation
    6.48 [ 5.10,  7.90]  Food, meals, catering

helper calls: 13 (0 cached)

wrote /tmp/x/food.json
"""


def test_the_block_between_the_markers_is_replaced_and_nothing_else():
    readme = f"# t\n\nbefore\n{readme_sample.BEGIN}\n```\nold\n```\n{readme_sample.END}\nafter\n"
    block = readme_sample.sample_block(OUTPUT, "(footer)")
    new = readme_sample.replace_block(readme, block)
    assert new.startswith("# t\n\nbefore\n") and new.endswith("\nafter\n")
    assert "old" not in new and "6.48 [ 5.10,  7.90]  Food, meals, catering" in new
    assert "module: x" not in new and "/tmp/x" not in new  # the table from its first unit, no temp path
    assert new.count("```") == 2 and "(footer)\n```" in new


def test_missing_or_doubled_markers_are_refused():
    with pytest.raises(ValueError, match="exactly one"):
        readme_sample.replace_block("no markers here", "x")
    with pytest.raises(ValueError, match="no '== unit' table"):
        readme_sample.sample_block("error output", "f")


def test_the_readme_has_exactly_one_generated_block():
    assert readme_sample.main(["--check"]) == 0
