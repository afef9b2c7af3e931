"""The flow test-case format itself: every input and check, and the errors a test author can meet."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from flows import cli
from flows.flowtest import run_test_file
from flows.model import FlowValidationError

FLOW = """\
flow: shop
start: menu
variables: {caller: ""}
intents:
  price: {examples: [how much is it, the price, what does it cost]}
steps:
  menu:
    kind: ask
    prompt: Ask about a price, or say the product name.
    grammar:
      - {value: kettle, phrases: [kettle, electric kettle], keys: "1", next: price}
      - {value: toaster, phrases: [toaster], keys: "2", next: price}
    intents: {price: price}
    into: product
    on_no_input: bye
    on_no_match: bye
  price:
    kind: http
    url: "http://shop.local/price?item={product}&caller={caller}"
    map: {price: amount}
    next: tell
    on_error: sorry
  tell:
    kind: play
    file: prompts/chime.wav
    next: say_price
  say_price:
    kind: set
    values: {told: true, summary: "{product} costs {price:money}"}
    next: bye
  sorry:
    kind: say
    text: Prices are not available right now.
    next: bye
  bye:
    kind: hangup
    text: Bye.
"""

CASES = """\
flow: shop.yaml
cases:
  - name: grammar phrase, http answered, variables checked
    variables: {caller: "555"}
    script:
      - caller: an electric kettle please
      - expect_http: item=kettle&caller=555
      - expect_step: price
      - http: {status: 200, body: {amount: 24.5}}
      - expect_vars: {product: kettle, price: "24.5", told: "True"}
      - expect_vars: {summary: kettle costs twenty four dollars and fifty cents}
      - expect_end: hangup
  - name: key choice and a failing business system
    script:
      - dtmf: "2"
      - http: {status: 503, error: HTTP 503}
      - expect: Prices are not available right now.
  - name: this one fails on purpose
    script:
      - dtmf: "1"
      - expect_lookup: "12345"
"""


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "shop.yaml").write_text(FLOW)
    cases = tmp_path / "shop.tests.yaml"
    cases.write_text(CASES)
    return cases


def test_inputs_and_checks(files: Path) -> None:
    results = run_test_file(files)
    assert [r.passed for r in results] == [True, True, False], [r.failure for r in results]
    assert results[2].failure.endswith("shop.tests.yaml:21: expected a lookup of '12345'; saw []")
    assert any("[http GET http://shop.local/price?item=toaster" in line for line in results[1].transcript)


def test_directory_argument_and_summary_line(files: Path) -> None:
    out = io.StringIO()
    assert cli.test_main([files.parent], out) == 1
    assert out.getvalue().rstrip().endswith("2 passed, 1 failed")


def test_bad_test_files(tmp_path: Path) -> None:
    (tmp_path / "shop.yaml").write_text(FLOW)
    bad = tmp_path / "bad.tests.yaml"
    bad.write_text("flow: shop.yaml\ncases:\n  - name: x\n    script:\n      - {caller: hi, dtmf: '1'}\n")
    with pytest.raises(FlowValidationError, match="each script line is one 'key: value'"):
        run_test_file(bad)
    bad.write_text("cases: []\n")
    with pytest.raises(FlowValidationError, match="needs 'flow: FILE'"):
        run_test_file(bad)
    bad.write_text("flow: shop.yaml\ncases:\n  - name: x\n    script:\n      - expect_weather: sunny\n")
    assert "unknown test step 'expect_weather'" in run_test_file(bad)[0].failure
    bad.write_text("flow: shop.yaml\ncases:\n  - name: x\n    script:\n      - http: {status: 200}\n")
    assert "has not made an HTTP request" in run_test_file(bad)[0].failure
