"""Branch conditions: parsing, evaluation and the variables they read."""

from __future__ import annotations

import pytest

from flows.conditions import ConditionSyntaxError, parse_condition

VARS = {"order": {"status": "shipped", "items": 3}, "visits": {"ask": 2}, "caller": "100", "vip": True}


@pytest.mark.parametrize(
    "source,value",
    [
        ('order.status == "shipped"', True),
        ("order.status != 'shipped'", False),
        ("order.items > 2 and visits.ask >= 2", True),
        ("order.items < 2 or not vip", False),
        ('caller in ["100", "101"]', True),
        ("caller not in [100]", False),
        ("caller == 100", True),
        ("missing", False),
        ("not missing", True),
        ("missing.deep == null", True),
        ("missing > 3", False),
        ("(vip and order.items == 3) or false", True),
        ('"hip" in order.status', True),
    ],
)
def test_evaluation(source: str, value: bool) -> None:
    assert parse_condition(source).holds(VARS) is value


def test_paths_are_reported() -> None:
    assert parse_condition("a.b == 1 and not c or d in [1]").paths == ("a.b", "c", "d")


@pytest.mark.parametrize(
    "source,message",
    [
        ("a ==", "expected a value or variable"),
        ("a == 1 b", "expected 'and', 'or' or the end"),
        ("(a", "expected ')'"),
        ("a not b", "expected 'in' after 'not'"),
        ("a == $", "cannot read"),
        ("a in [b]", "a literal inside"),
    ],
)
def test_syntax_errors(source: str, message: str) -> None:
    with pytest.raises(ConditionSyntaxError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        parse_condition(source)
