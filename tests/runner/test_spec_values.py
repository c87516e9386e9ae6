"""What a user types, parsed without the registry: name lists, ``-s`` settings, a
param's value by its default's type, thread counts; each mistake one line."""

from __future__ import annotations

import math

import pytest

from scratchlab.runner.spec import PlanError
from scratchlab.runner.spec_values import (
    add_setting,
    coerce_value,
    parse_setting,
    parse_threads,
    split_names,
)


@pytest.mark.parametrize(
    ("default", "text", "value"),
    [
        (1, "7", 7),
        (0.5, "1e-3", 1e-3),
        (0.5, "inf", math.inf),
        (True, "off", False),
        ("a", "b", "b"),
        ([1], "1,2,3", [1, 2, 3]),
        ((0.5,), "[1, 2]", (1.0, 2.0)),
        ([], "x,y", ["x", "y"]),
        (None, "3", 3),
        (None, "text", "text"),
        ({"a": 1}, '{"b": 2}', {"b": 2}),
        (0.5, 2, 2.0),
    ],
)
def test_values_are_parsed_by_the_type_of_the_default(default, text, value):
    parsed = coerce_value(default, text, "x.p")
    assert parsed == value and type(parsed) is type(value)


@pytest.mark.parametrize(
    ("default", "value", "message"),
    [
        (True, "maybe", "x.p='maybe': expected true or false (default True)"),
        (1, "1.5", "x.p='1.5': expected an integer (default 1)"),
        (1, True, "x.p=True: expected an integer (default 1)"),
        (1, "٣", "x.p='٣': expected an integer (default 1)"),  # only ASCII digits
        (1, 2**63, f"x.p={2**63}: expected an integer within ±{2**63 - 1} (the stored range)"),
        (0.5, "fast", "x.p='fast': expected a number (default 0.5)"),
        ("a", 3, "x.p=3: expected a string (default 'a')"),
        ([1], "[1,", "x.p='[1,': expected a JSON list ("),
        ([1], {"a": 1}, "x.p={'a': 1}: expected a list (default [1])"),
        ([1], "1,two", "x.p[1]='two': expected an integer (default 1)"),
        ({"a": 1}, "nope", "x.p='nope': expected JSON for a dict (default {'a': 1})"),
        ({"a": 1}, "[1]", "x.p='[1]': expected a dict (default {'a': 1})"),
    ],
)
def test_a_value_that_does_not_fit_its_default_is_one_line_saying_what_fits(
    default, value, message
):
    with pytest.raises(PlanError) as info:
        coerce_value(default, value, "x.p")
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


def test_names_are_stripped_and_deduplicated_in_order():
    assert split_names(" b, a,,b ") == ("b", "a")
    assert split_names(["x", "y", "x"]) == ("x", "y")
    assert split_names(None) == ()


def test_a_setting_splits_at_the_last_dot_and_is_refused_twice():
    assert parse_setting("leaky-relu.slope = 0.2") == ("leaky-relu", "slope", "0.2")
    assert parse_setting("a.b.c=x=y") == ("a.b", "c", "x=y")
    with pytest.raises(PlanError, match=r"expected NAME\.PARAM=VALUE"):
        parse_setting("lr=0.1")
    settings: dict = {}
    add_setting(settings, "train", "lr", "0.1", "-s")
    with pytest.raises(PlanError, match=r"-s sets train\.lr twice"):
        add_setting(settings, "train", "lr", "0.2", "-s")
    assert settings == {"train": {"lr": "0.1"}}


@pytest.mark.parametrize("text", ["0", "-1", "two", "1.5", "", "99999"])
def test_a_bad_thread_count_is_one_line_naming_the_range(text):
    with pytest.raises(PlanError, match=r"--threads: .*auto or integers 1 to 1024"):
        parse_threads(text)


def test_thread_settings_parse():
    assert parse_threads("auto") == (None,)
    assert parse_threads("1, 2,auto,2") == (1, 2, None)
    assert parse_threads([1, "auto"]) == (1, None)
