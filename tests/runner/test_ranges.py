"""Ranges and choices in ``-s`` (runner.ranges): what a search may choose, and the one line a bad one gets."""

from __future__ import annotations

import pytest

from scratchlab.plugins.contracts import positive
from scratchlab.runner.ranges import Choice, NumberRange, distribution, parse_range
from scratchlab.runner.spec import PlanError


def test_a_float_range_on_a_log_scale() -> None:
    found = parse_range("1e-3..2:log", 0.2, "train.lr", positive)
    assert found == NumberRange(0.001, 2.0, integer=False, log=True)
    assert (distribution(found).low, distribution(found).high, distribution(found).log) == (
        0.001,
        2.0,
        True,
    )


def test_ints_stay_ints() -> None:
    found = parse_range("1..3", 1, "train.epochs")
    assert found == NumberRange(1, 3, integer=True)
    assert type(distribution(found)).__name__ == "IntDistribution"


def test_choices_are_parsed_by_the_default_type() -> None:
    assert parse_range("16,32,64", 64, "train.bs") == Choice((16, 32, 64))
    assert parse_range("mlp,cnn", "mlp", "train.model") == Choice(("mlp", "cnn"))


def test_a_plain_value_is_not_a_range() -> None:
    assert parse_range("0.1", 0.2, "train.lr") is None
    assert parse_range("../data", "x", "mnist.path") is None  # a string param's dots are a value


@pytest.mark.parametrize(
    ("text", "default", "says"),
    [
        ("2..1", 0.2, "the range is empty"),
        ("0..2:log", 0.2, "a log range needs LOW > 0"),
        ("1..2:ln", 0.2, "unknown scale 'ln'"),
        ("1.5..3", 1, "whole numbers"),
        ("a..b", 0.2, "must be numbers"),
        ("1..inf", 0.2, "finite"),
        ("-1..2", 0.2, "-1.0 is not allowed: expected a finite number > 0"),
        ("16,16", 64, "at least two different values"),
        ("16,x", 64, "expected an integer"),
    ],
)
def test_a_bad_range_is_one_line(text: str, default: object, says: str) -> None:
    with pytest.raises(PlanError, match=says) as caught:
        parse_range(text, default, "train.p", positive)
    assert "\n" not in str(caught.value)
