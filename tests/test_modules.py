import numpy as np
import pytest

from sasc.errors import ConfigError, ModuleError, NonFiniteResponseError, UnknownKindError
from sasc.modules import as_bank, build_module, check_module, known_kinds, parse_module_spec, register_kind
from sasc.modules.base import check_finite, to_response_array


def test_plain_callable_is_a_module(keyword_module):
    check_module(keyword_module)
    bank = as_bank(keyword_module)
    assert bank.units == ["food-words"]
    out = bank.responses(["pizza pizza", "tax law"])
    assert out.dtype == np.float32 and out.shape == (2, 1)
    np.testing.assert_allclose(out[:, 0], [1.0, 0.0])


def test_conformance_catches_broken_modules():
    with pytest.raises(ModuleError, match="shape"):
        check_module(lambda texts: np.zeros(len(texts) + 1))
    rng = np.random.default_rng(0)
    with pytest.raises(ModuleError, match="not deterministic"):
        check_module(lambda texts: rng.normal(size=len(texts)))
    with pytest.raises(NonFiniteResponseError):
        check_module(lambda texts: np.full(len(texts), np.nan))

    def batch_dependent(texts):
        return np.full(len(texts), float(len(texts)))

    with pytest.raises(ModuleError, match="depending on its batch"):
        check_module(batch_dependent)

    class WrongDtype:
        units = ["u"]

        def responses(self, texts):
            return np.zeros((len(texts), 1), dtype=np.float64)

    with pytest.raises(ModuleError, match="dtype"):
        check_module(WrongDtype())


def test_nonfinite_error_names_the_texts():
    texts = ["fine", "broken one", "also broken"]
    vals = np.array([[1.0], [np.nan], [np.inf]], dtype=np.float32)
    with pytest.raises(NonFiniteResponseError) as e:
        check_finite(vals, texts, "m")
    assert e.value.texts == ["broken one", "also broken"]
    assert "'broken one'" in str(e.value)


def test_shape_errors_are_clear():
    with pytest.raises(ModuleError, match=r"shape \(3,\) for 2 texts"):
        to_response_array([1, 2, 3], 2, "m")


def test_registry_and_specs():
    assert parse_module_spec("embedding_distance:keyphrase=food and drink,model=x") == (
        "embedding_distance", {"keyphrase": "food and drink", "model": "x"})
    assert parse_module_spec('{"kind": "k", "units": [1, 2]}') == ("k", {"units": [1, 2]})
    assert parse_module_spec("k:n=3,flag=true") == ("k", {"n": 3, "flag": True})
    with pytest.raises(ConfigError, match="key=value"):
        parse_module_spec("k:oops")
    with pytest.raises(UnknownKindError, match="known kinds: .*embedding_distance"):
        build_module("nope")

    register_kind("test_const", lambda value=1.0: (lambda texts: np.full(len(texts), value)), replace=True)
    assert "test_const" in known_kinds()
    m = build_module("test_const", value=2.0)
    assert m(["a"]).tolist() == [2.0]
    with pytest.raises(ConfigError, match="bad parameters"):
        build_module("test_const", wrong=1)
    with pytest.raises(ConfigError, match="already registered"):
        register_kind("test_const", lambda: None)


def test_not_a_module():
    with pytest.raises(ConfigError, match="not a text module"):
        as_bank(42)
