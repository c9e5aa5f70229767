import json
import math

import numpy as np

from sasc.jsonio import dumps, nan_if_none, strict


def test_non_finite_floats_become_null_and_come_back_as_nan():
    doc = {"a": float("nan"), "b": [1.5, np.float32("inf"), np.float64(2.0)], "c": (np.int64(3), "x")}
    text = dumps(doc)
    assert json.loads(text) == {"a": None, "b": [1.5, None, 2.0], "c": [3, "x"]}
    assert strict(-math.inf) is None and strict("NaN") == "NaN"
    back = nan_if_none(json.loads(text)["b"])
    assert back[0] == 1.5 and math.isnan(back[1]) and back[2] == 2.0
    assert math.isnan(nan_if_none(None)) and nan_if_none(0.0) == 0.0
