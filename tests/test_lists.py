import pytest

from sasc.lists import parse_ranges, split_list


def test_split_list_strips_and_drops_empty_parts():
    assert split_list(" a, b,,c ,") == ["a", "b", "c"]
    assert split_list("") == [] and split_list(" , ") == []
    assert split_list("key=1, other=x y") == ["key=1", "other=x y"]


def test_parse_ranges_expands_inclusive_ranges_in_order():
    assert parse_ranges("0,3, 5-7") == [0, 3, 5, 6, 7]
    assert parse_ranges("9-9,2") == [9, 2]
    assert parse_ranges("5-3") == []  # an empty range, as range() gives
    assert parse_ranges("") == []


@pytest.mark.parametrize("text,part", [("1,x", "'x'"), ("1-y", "'1-y'"), ("-3", "'-3'"), ("2.5", "'2.5'")])
def test_parse_ranges_names_the_bad_part(text, part):
    with pytest.raises(ValueError, match=f"bad layer {part}: expected an index"):
        parse_ranges(text, "layer")


def test_parse_ranges_with_a_limit_checks_bounds_before_expanding():
    with pytest.raises(ValueError, match="unit 30000000 out of range: valid units are 0..9"):
        parse_ranges("0-30000000", "unit", limit=10)  # refused without building 30M integers
    with pytest.raises(ValueError, match="unit 10 out of range"):
        parse_ranges("3,10", "unit", limit=10)
    assert parse_ranges("0-3,2-5,1", "unit", limit=10) == [0, 1, 2, 3, 4, 5]
