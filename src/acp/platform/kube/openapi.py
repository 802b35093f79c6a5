"""OpenAPI documents for kubectl: just enough for it to rely on server-side validation.

kubectl validates `create -f` / `apply -f` input itself unless the server's OpenAPI v3 says the
kind's PATCH operation takes the `fieldValidation` parameter; without any OpenAPI it refuses
with "failed to download openapi". So:

- `/openapi/v3` lists one document per group version, describing each stored kind's
  operations with `x-kubernetes-group-version-kind` and the query parameters this server
  honours (`dryRun`, `fieldManager`, `fieldValidation`). PATCH bodies are announced as JSON
  patch and merge patch only; kubectl then builds strategic merge patches from its own
  built-in types, which the server also accepts.
- `/openapi/v2` is an empty Swagger document (protobuf when asked for it, as kubectl does), so
  kinds without PATCH (the reviews) pass kubectl's client-side validation and are checked
  here.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from acp.platform.kube import resources
from acp.platform.kube.discovery import KUBERNETES_MINOR
from acp.platform.kube.resources import ResourceType

V2_PROTOBUF = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
# What Kubernetes answers with: "@" is not allowed in a Content-Type, Go's mime parser refuses it.
V2_PROTOBUF_RESPONSE = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
# gnostic openapi_v2.Document with only `swagger: "2.0"` (field 1).
V2_DOCUMENT_PROTOBUF = b"\x0a\x032.0"
V2_DOCUMENT_JSON = {
    "swagger": "2.0",
    "info": {"title": "ACP Registry Kubernetes-compatible API", "version": "v1"},
    "paths": {},
    "definitions": {},
}


def _query(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "description": description,
        "schema": {"type": "string", "uniqueItems": True},
    }


WRITE_PARAMETERS = [
    _query("dryRun", "When present, indicates that modifications should not be persisted."),
    _query("fieldManager", "The name of the actor or entity making these changes."),
    _query(
        "fieldValidation",
        "How to handle unknown or duplicate fields in the request body: Ignore, Warn or Strict.",
    ),
]
JSON_BODY = {"content": {"application/json": {"schema": {"type": "object"}}}, "required": True}
PATCH_BODY = {
    "content": {
        "application/json-patch+json": {"schema": {"type": "object"}},
        "application/merge-patch+json": {"schema": {"type": "object"}},
    },
    "required": True,
}
OK = {"200": {"description": "OK"}, "401": {"description": "Unauthorized"}}


def _operation(rtype: ResourceType, action: str, **extra: Any) -> dict[str, Any]:
    return {
        "operationId": f"{action}{rtype.kind}",
        "responses": OK,
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {
            "group": rtype.group,
            "version": rtype.version,
            "kind": rtype.kind,
        },
        **extra,
    }


def _paths(rtype: ResourceType) -> dict[str, Any]:
    base = f"/apis/{rtype.group}/{rtype.version}" if rtype.group else f"/api/{rtype.version}"
    scope = "/namespaces/{namespace}" if rtype.namespaced else ""
    collection = f"{base}{scope}/{rtype.plural}"
    paths: dict[str, Any] = {}
    if not rtype.stored:
        if "create" in rtype.verbs:
            paths[collection] = {
                "post": _operation(
                    rtype, "post", parameters=WRITE_PARAMETERS, requestBody=JSON_BODY
                )
            }
        return paths
    paths[collection] = {
        "get": _operation(rtype, "list"),
        "post": _operation(rtype, "post", parameters=WRITE_PARAMETERS, requestBody=JSON_BODY),
    }
    paths[collection + "/{name}"] = {
        "get": _operation(rtype, "get"),
        "put": _operation(rtype, "put", parameters=WRITE_PARAMETERS, requestBody=JSON_BODY),
        "patch": _operation(rtype, "patch", parameters=WRITE_PARAMETERS, requestBody=PATCH_BODY),
        "delete": _operation(rtype, "delete", parameters=WRITE_PARAMETERS[:1]),
    }
    return paths


def _group_versions() -> list[tuple[str, str]]:
    return [("", "v1")] + [(g, v) for g, versions in resources.GROUPS.items() for v in versions]


def _key(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def group_version_document(group: str, version: str) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for rtype in resources.in_group_version(group, version):
        if not rtype.subresource and rtype.verbs:
            paths.update(_paths(rtype))
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": f"v1.{KUBERNETES_MINOR}.0"},
        "paths": paths,
        "components": {"schemas": {}},
    }


def _hash(document: dict[str, Any]) -> str:
    text = json.dumps(document, sort_keys=True).encode()
    return hashlib.sha512(text).hexdigest().upper()


def v3_root(base_path: str) -> dict[str, Any]:
    """The index of group-version documents; URLs are server-relative, base path included."""
    return {
        "paths": {
            _key(g, v): {
                "serverRelativeURL": f"{base_path}/openapi/v3/{_key(g, v)}"
                f"?hash={_hash(group_version_document(g, v))}"
            }
            for g, v in _group_versions()
        }
    }


def v3_document(path: str) -> dict[str, Any] | None:
    """The document at `/openapi/v3/<path>`, or None."""
    for group, version in _group_versions():
        if path.strip("/") == _key(group, version):
            return group_version_document(group, version)
    return None
