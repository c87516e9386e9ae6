"""Where expressions (``--where``, the app's filter box) read as a :class:`RunFilter`, and a bad
one is one line naming it (``db/filters.py``); the filter applied in SQL is in ``test_queries.py``."""

from __future__ import annotations

import pytest

from scratchlab.db.filters import Condition, FilterError, RunFilter, parse_where


def test_where_expressions_read_as_a_filter():
    flt = parse_where(
        ["valid_accuracy>=0.85", "optimizer=adam,sgd", "lr<0.1", "lr>1e-4", "status!=failed"]
    )
    assert flt.fields["optimizer"] == (Condition("=", ("adam", "sgd")),)
    assert flt.fields["lr"] == (Condition("<", 0.1), Condition(">", 1e-4))
    assert "failed" not in flt.statuses and "done" in flt.statuses
    assert flt == parse_where(
        ["valid_accuracy>=0.85", "optimizer=adam,sgd", "lr<0.1", "lr>1e-4", "status!=failed"]
    )
    assert hash(flt) == hash(
        parse_where(
            ["valid_accuracy>=0.85", "optimizer=adam,sgd", "lr<0.1", "lr>1e-4", "status!=failed"]
        )
    )
    assert RunFilter().is_empty and not flt.is_empty
    assert RunFilter(params={"lr": (0.1, None)}).params == {"lr": (Condition(">=", 0.1),)}


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("lr", "cannot read filter 'lr'"),
        ("lr>=fast", "needs a number"),
        ("lr=", "has no value"),
        ("lr~1", "cannot read filter"),
        ("status=finished", "unknown status finished"),
        ("device>3", "device is text"),
        ("started_at=1", "cannot filter on 'started_at'"),
    ],
)
def test_a_bad_where_expression_is_one_line_naming_it(expression, message):
    with pytest.raises(FilterError, match=message) as caught:
        parse_where([expression])
    assert "\n" not in str(caught.value)
