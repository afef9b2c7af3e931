"""Prompt templates: variables and the spoken forms of digits, dates and money."""

from __future__ import annotations

import pytest

from flows.prompts import Placeholder, TemplateSyntaxError, placeholders, render

VARS = {"order": {"status": "shipped", "on": "2025-11-20", "total": "1234.5"}, "n": "12345", "count": 3}


@pytest.mark.parametrize(
    "template,spoken",
    [
        ("Order {n:digits} {order.status}.", "Order one two three four five shipped."),
        ("Shipped on {order.on:date}.", "Shipped on November twentieth."),
        ("On {order.on:date_year}.", "On November twentieth, twenty twenty five."),
        ("Total {order.total:money}.", "Total one thousand two hundred thirty four dollars and fifty cents."),
        ("{count:number} items", "three items"),
        ("{{literal}} {count}", "{literal} 3"),
        ("Missing: [{nothing}]", "Missing: []"),
    ],
)
def test_render(template: str, spoken: str) -> None:
    assert render(template, VARS) == spoken


def test_money_edge_cases() -> None:
    assert render("{x:money}", {"x": 1}) == "one dollar"
    assert render("{x:money}", {"x": "0.01"}) == "one cent"
    assert render("{x:money}", {"x": 0}) == "zero dollars"
    assert render("{x:money}", {"x": "n/a"}) == "n/a"
    assert render("{x:date}", {"x": "soon"}) == "soon"


def test_placeholders_and_errors() -> None:
    assert placeholders("Hi {a.b} {c:digits}") == [Placeholder("a.b"), Placeholder("c", "digits")]
    with pytest.raises(TemplateSyntaxError, match="unknown format ':loud'"):
        placeholders("{a:loud}")
    with pytest.raises(TemplateSyntaxError, match="not a variable reference"):
        placeholders("{1 + 2}")
    with pytest.raises(TemplateSyntaxError, match="unbalanced brace"):
        placeholders("oops }")
