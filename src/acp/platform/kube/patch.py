"""PATCH bodies: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and strategic merge patch.

For the kinds served here a strategic merge patch is a merge patch, except for the few lists
Kubernetes merges by key (`metadata.ownerReferences` by uid, `metadata.finalizers` as a set,
a ServiceAccount's `secrets` by name) and the `$patch` / `$deleteFromPrimitiveList` /
`$setElementOrder` directives, which are honoured.
"""

from __future__ import annotations

import copy
from typing import Any

from acp.platform.kube import errors

# Lists that strategic merge patches merge rather than replace: path → merge key ("" = set).
MERGE_LISTS: dict[tuple[str, ...], str] = {
    ("metadata", "ownerReferences"): "uid",
    ("metadata", "finalizers"): "",
    ("secrets",): "name",
}


def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# --- JSON patch --------------------------------------------------------------------------------


class _PatchFailed(Exception):
    pass


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise _PatchFailed(f'invalid JSON pointer "{path}"')
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _index(container: list[Any], token: str, *, adding: bool) -> int:
    if adding and token == "-":
        return len(container)
    if not token.isdigit() or (len(token) > 1 and token.startswith("0")):
        raise _PatchFailed(f'invalid array index "{token}"')
    index = int(token)
    limit = len(container) if adding else len(container) - 1
    if index > limit:
        raise _PatchFailed(f"array index {index} out of bounds")
    return index


def _parent(doc: Any, tokens: list[str]) -> tuple[Any, str]:
    node = doc
    for token in tokens[:-1]:
        if isinstance(node, dict):
            if token not in node:
                raise _PatchFailed(f'path element "{token}" does not exist')
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(node, token, adding=False)]
        else:
            raise _PatchFailed(f'cannot descend into "{token}"')
    return node, tokens[-1]


def _get(doc: Any, path: str) -> Any:
    tokens = _pointer(path)
    if not tokens:
        return doc
    parent, last = _parent(doc, tokens)
    if isinstance(parent, dict):
        if last not in parent:
            raise _PatchFailed(f'path "{path}" does not exist')
        return parent[last]
    if isinstance(parent, list):
        return parent[_index(parent, last, adding=False)]
    raise _PatchFailed(f'path "{path}" does not exist')


def _add(doc: Any, path: str, value: Any) -> Any:
    tokens = _pointer(path)
    if not tokens:
        return value
    parent, last = _parent(doc, tokens)
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, adding=True), value)
    else:
        raise _PatchFailed(f'cannot add at "{path}"')
    return doc


def _remove(doc: Any, path: str) -> Any:
    tokens = _pointer(path)
    if not tokens:
        raise _PatchFailed("cannot remove the whole document")
    parent, last = _parent(doc, tokens)
    if isinstance(parent, dict):
        if last not in parent:
            raise _PatchFailed(f'path "{path}" does not exist')
        del parent[last]
    elif isinstance(parent, list):
        del parent[_index(parent, last, adding=False)]
    else:
        raise _PatchFailed(f'cannot remove "{path}"')
    return doc


def json_patch(target: Any, operations: Any) -> Any:
    if not isinstance(operations, list):
        raise errors.bad_request("a JSON patch must be a list of operations")
    doc = copy.deepcopy(target)
    try:
        for op in operations:
            if not isinstance(op, dict) or not isinstance(op.get("path"), str):
                raise _PatchFailed('each operation needs an "op" and a "path"')
            kind, path = op.get("op"), op["path"]
            if kind in ("add", "replace", "test") and "value" not in op:
                raise _PatchFailed(f'operation "{kind}" needs a "value"')
            if kind == "add":
                doc = _add(doc, path, copy.deepcopy(op["value"]))
            elif kind == "remove":
                doc = _remove(doc, path)
            elif kind == "replace":
                _get(doc, path)
                doc = _remove(doc, path) if _pointer(path) else doc
                doc = _add(doc, path, copy.deepcopy(op["value"]))
            elif kind in ("move", "copy"):
                source = op.get("from")
                if not isinstance(source, str):
                    raise _PatchFailed(f'operation "{kind}" needs a "from"')
                value = copy.deepcopy(_get(doc, source))
                if kind == "move":
                    doc = _remove(doc, source)
                doc = _add(doc, path, value)
            elif kind == "test":
                if _get(doc, path) != op["value"]:
                    raise _PatchFailed(f'test failed at "{path}"')
            else:
                raise _PatchFailed(f'unknown operation "{kind}"')
    except _PatchFailed as exc:
        raise errors.KubeError(
            422, "Invalid", f"the JSON patch could not be applied: {exc}"
        ) from exc
    return doc


# --- strategic merge patch -------------------------------------------------------------------


def strategic_merge_patch(target: Any, patch: Any, path: tuple[str, ...] = ()) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    directive = patch.get("$patch")
    if directive == "delete":
        return None
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if not k.startswith("$")}
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$deleteFromPrimitiveList/"):
            name = key.split("/", 1)[1]
            if isinstance(result.get(name), list) and isinstance(value, list):
                result[name] = [v for v in result[name] if v not in value]
            continue
        if key.startswith("$"):
            continue  # $setElementOrder, $retainKeys: ordering hints only here
        child = (*path, key)
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list) and child in MERGE_LISTS:
            result[key] = _merge_list(result.get(key), value, MERGE_LISTS[child])
        else:
            merged = strategic_merge_patch(result.get(key), value, child)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
    return result


def _merge_list(current: Any, patch: list[Any], key: str) -> list[Any]:
    items = list(current) if isinstance(current, list) else []
    if not key:
        return items + [v for v in patch if v not in items]
    for entry in patch:
        if not isinstance(entry, dict):
            continue
        position = next(
            (
                i
                for i, item in enumerate(items)
                if isinstance(item, dict) and item.get(key) == entry.get(key)
            ),
            None,
        )
        if entry.get("$patch") == "delete":
            if position is not None:
                del items[position]
        elif position is None:
            items.append({k: v for k, v in entry.items() if not k.startswith("$")})
        else:
            items[position] = strategic_merge_patch(items[position], entry)
    return items
