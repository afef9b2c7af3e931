"""The flow JSON Schema (flows/flow.schema.json) and its errors as problems with a line and a fix."""

from __future__ import annotations

import difflib
import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from flows.model import Problem
from flows.yaml_source import YamlDocument

SCHEMA_PATH = Path(__file__).with_name("flow.schema.json")


@cache
def flow_schema() -> dict[str, Any]:
    """The JSON Schema every flow file must satisfy."""
    schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text())
    return schema


@cache
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(flow_schema())


def _where(path: tuple[str | int, ...]) -> str:
    if len(path) >= 2 and path[0] == "steps":
        rest = ".".join(str(p) for p in path[2:])
        return f"step '{path[1]}'" + (f", field '{rest}'" if rest else "")
    if len(path) >= 2 and path[0] == "intents":
        return f"intent '{path[1]}'"
    return "'" + ".".join(str(p) for p in path) + "'" if path else "the flow"


def _suggest(word: str, options: list[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'? " if close else ""


def _allowed_fields(error: jsonschema.ValidationError) -> list[str]:
    props = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
    return sorted(props)


def _problem(doc: YamlDocument, error: jsonschema.ValidationError) -> Problem:
    path = tuple(error.absolute_path)
    where = _where(path)
    line = doc.line(path)
    if error.validator == "enum" and path[-1:] == ("kind",):
        options = [str(o) for o in error.validator_value]
        return Problem(line, f"{where}: unknown step kind {error.instance!r}",
                       f"{_suggest(str(error.instance), options)}use one of: {', '.join(options)}")
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = _allowed_fields(error)
        extra = [k for k in error.instance if k not in allowed]
        key = extra[0] if extra else "?"
        if key == "sensitive" and path[:1] == ("steps",):
            return Problem(doc.line((*path, key)),
                           f"{where}: only a collect step can be sensitive, not a {error.instance.get('kind')} step",
                           "take the card number or PIN in a 'kind: collect' step with 'sensitive: true' (it "
                           "pauses the recording and masks the input while it runs), or remove 'sensitive' here")
        return Problem(doc.line((*path, key)), f"{where}: unknown field '{key}'",
                       f"{_suggest(key, allowed)}allowed fields here: {', '.join(allowed)}")
    if error.validator == "required":
        missing = str(error.message).split("'")[1] if "'" in error.message else "?"
        kind = error.instance.get("kind") if isinstance(error.instance, dict) else None
        what = f" {kind} step" if kind else ""
        return Problem(line, f"{where}: the{what} needs '{missing}'", f"add '{missing}: ...' to it")
    if error.validator == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        return Problem(line, f"{where} must be {expected}, not {error.instance!r}",
                       f"write a {expected} here (quote text that YAML reads as another type)")
    if error.validator == "pattern":
        return Problem(line, f"{where}: {error.instance!r} is not a valid name",
                       "use letters, digits and underscores, starting with a letter")
    if error.validator == "oneOf" and error.schema.get("description", "").startswith("a prompt"):
        return Problem(line, f"{where} must be a prompt text or a list of prompt texts", "write text in quotes")
    if error.validator == "enum":
        options = [str(o) for o in error.validator_value]
        return Problem(line, f"{where}: {error.instance!r} is not allowed",
                       f"{_suggest(str(error.instance), options)}use one of: {', '.join(options)}")
    return Problem(line, f"{where}: {error.message}", "see docs/flows.md for the step's fields")


def schema_problems(doc: YamlDocument) -> list[Problem]:
    """Every JSON Schema violation of the document, most specific first, one per place."""
    if not isinstance(doc.data, dict):
        return [Problem(1, "a flow file must be a YAML mapping with 'flow', 'start' and 'steps'",
                        "see flows/acme_retail.yaml for an example")]
    problems: list[Problem] = []
    seen: set[tuple[int, str]] = set()
    for error in sorted(_validator().iter_errors(doc.data), key=lambda e: list(map(str, e.absolute_path))):
        if error.validator in ("if", "allOf"):
            continue
        problem = _problem(doc, error)
        if (problem.line, problem.message) not in seen:
            seen.add((problem.line, problem.message))
            problems.append(problem)
    return problems
