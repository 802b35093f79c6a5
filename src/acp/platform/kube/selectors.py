"""`labelSelector` and `fieldSelector` of list requests, with Kubernetes' syntax:
`a=b,c!=d,e in (f,g),h notin (i),j,!k` and `metadata.name=x,metadata.namespace!=y`."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from acp.platform.kube import errors

Predicate = Callable[[dict[str, Any]], bool]

_SET = re.compile(r"^\s*([^\s!=(),]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")
FIELDS = {
    "metadata.name": lambda obj: obj["metadata"].get("name", ""),
    "metadata.namespace": lambda obj: obj["metadata"].get("namespace", ""),
}


def _split(selector: str) -> list[str]:
    """Split on commas outside parentheses."""
    terms, depth, current = [], 0, ""
    for char in selector:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    terms.append(current)
    return [t.strip() for t in terms if t.strip()]


def _label_term(term: str) -> Predicate:
    def labels(obj: dict[str, Any]) -> dict[str, str]:
        return obj.get("metadata", {}).get("labels") or {}

    if match := _SET.match(term):
        key, op, raw = match.groups()
        values = {v.strip() for v in raw.split(",") if v.strip()}
        if op == "in":
            return lambda obj: labels(obj).get(key) in values
        return lambda obj: labels(obj).get(key) not in values
    for op in ("!=", "==", "="):
        if op in term:
            key, _, value = term.partition(op)
            key, value = key.strip(), value.strip()
            if not key:
                break
            if op == "!=":
                return lambda obj: labels(obj).get(key) != value
            return lambda obj: labels(obj).get(key) == value
    else:
        if term.startswith("!"):
            key = term[1:].strip()
            return lambda obj: key not in labels(obj)
        if re.fullmatch(r"[^\s!=(),]+", term):
            return lambda obj: term in labels(obj)
    raise errors.bad_request(f'unable to parse requirement: "{term}" is not a valid label selector')


def label_selector(selector: str) -> Predicate:
    predicates = [_label_term(t) for t in _split(selector)]
    return lambda obj: all(p(obj) for p in predicates)


def field_selector(selector: str) -> Predicate:
    predicates: list[Predicate] = []
    for term in _split(selector):
        op = "!=" if "!=" in term else ("==" if "==" in term else "=")
        key, sep, value = term.partition(op)
        key, value = key.strip(), value.strip()
        if not sep or key not in FIELDS:
            raise errors.bad_request(f"field label not supported: {key or term}")
        predicates.append(_field_predicate(FIELDS[key], value, negate=op == "!="))
    return lambda obj: all(p(obj) for p in predicates)


def _field_predicate(getter: Callable[[Any], Any], value: str, *, negate: bool) -> Predicate:
    def matches(obj: Any) -> bool:
        return (getter(obj) == value) != negate

    return matches
