"""Request bodies in (JSON, YAML, protobuf) and response formats out (JSON, YAML, Table,
PartialObjectMetadata), negotiated from `Content-Type`, `Accept` and `fieldValidation`."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import yaml
from aiohttp import web

from acp.platform.kube import errors, protobuf, schema
from acp.server.bodies import read_limited

JSON = "application/json"
YAML = "application/yaml"
PROTOBUF = "application/vnd.kubernetes.protobuf"
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH)

# The Kubernetes API server's limit on request bodies.
MAX_BODY = 3 * 1024 * 1024

VALIDATION_MODES = ("Ignore", "Warn", "Strict")


def media_type(header: str | None) -> str:
    return (header or "").split(";", 1)[0].strip().lower()


async def read_body(request: web.Request) -> bytes:
    """The whole body; 413 beyond `MAX_BODY` bytes."""
    return await read_limited(request, MAX_BODY, lambda: errors.too_large(MAX_BODY))


@dataclass
class Decoded:
    """A request body as a JSON-shaped object, with what the decoder noticed."""

    obj: dict[str, Any]
    # Fields that are not part of the kind, and keys given twice (for fieldValidation).
    problems: list[str] = field(default_factory=list)
    protobuf: bool = False


def _no_duplicates(problems: list[str]) -> Any:
    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                problems.append(f'duplicate field "{key}"')
            out[key] = value
        return out

    return hook


def parse_json(raw: bytes, problems: list[str] | None = None) -> Any:
    try:
        return json.loads(
            raw, object_pairs_hook=_no_duplicates(problems if problems is not None else [])
        )
    except (ValueError, RecursionError) as exc:
        raise errors.bad_request(f"couldn't get version/kind; json parse error: {exc}") from exc


class _NoAliasLoader(yaml.SafeLoader):
    """The safe loader, refusing aliases (`*name`): expanding them lets a few hundred bytes
    stand for gigabytes of objects ("billion laughs")."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not allowed in request bodies", event.start_mark
            )
        return super().compose_node(parent, index)


def _parse_yaml(raw: bytes) -> Any:
    try:
        documents = list(yaml.load_all(raw, Loader=_NoAliasLoader))
    except yaml.YAMLError as exc:
        raise errors.bad_request(f"error converting YAML to JSON: yaml: {exc}") from exc
    except RecursionError as exc:
        raise errors.bad_request("error converting YAML to JSON: nested too deeply") from exc
    if len(documents) != 1:
        raise errors.bad_request("the body must hold exactly one YAML document")
    # Round-trip through JSON so that YAML-only values (dates, binary) become what JSON allows.
    try:
        return json.loads(json.dumps(documents[0], default=str))
    except (TypeError, ValueError, RecursionError) as exc:
        raise errors.bad_request(f"error converting YAML to JSON: {exc}") from exc


def decode_body(raw: bytes, content_type: str | None) -> Decoded:
    """The body as an object, whatever the supported content type it came in."""
    kind = media_type(content_type) or JSON
    problems: list[str] = []
    if kind == JSON:
        obj = parse_json(raw, problems)
    elif kind in (YAML, "application/x-yaml", "text/yaml"):
        obj = _parse_yaml(raw)
    elif kind == PROTOBUF:
        try:
            _api_version, _kind, obj = protobuf.decode(raw)
        except protobuf.ProtobufError as exc:
            raise errors.bad_request(f"unable to decode the protobuf body: {exc}") from exc
        return Decoded(obj, [], protobuf=True)
    else:
        raise errors.unsupported_media_type(
            f'the body of the request was in an unknown format "{kind}" - accepted media types '
            f"include: {JSON}, {YAML}, {PROTOBUF}"
        )
    if not isinstance(obj, dict):
        raise errors.bad_request(
            "couldn't get version/kind; json parse error: the body must be an object"
        )
    return Decoded(obj, problems)


def check_fields(decoded: Decoded, message: schema.Message) -> Decoded:
    """Types checked (400 on mismatch) and unknown fields dropped and noted."""
    unknown: list[str] = []
    try:
        cleaned = schema.clean(decoded.obj, message, unknown)
    except schema.WrongType as exc:
        raise errors.bad_request(
            f'{message.name} in version "v1" cannot be handled as a {message.name}: {exc}'
        ) from exc
    problems = decoded.problems + [f'unknown field "{path}"' for path in unknown]
    return Decoded(cleaned, problems, decoded.protobuf)


def field_validation(query: Any) -> str:
    mode = query.get("fieldValidation", "") or "Warn"
    if mode not in VALIDATION_MODES:
        raise errors.bad_request(
            f'fieldValidation: Unsupported value: "{mode}": supported values: '
            '"Ignore", "Strict", "Warn"'
        )
    return mode


def apply_field_validation(decoded: Decoded, mode: str, warnings: list[str]) -> None:
    """Strict refuses unknown and duplicate fields; Warn reports them; Ignore drops them."""
    if not decoded.problems or mode == "Ignore":
        return
    if mode == "Strict":
        raise errors.bad_request("strict decoding error: " + ", ".join(decoded.problems))
    warnings.extend(decoded.problems)


# --- responses -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Output:
    format: str  # "json", "yaml", "table" or "partial"
    include_object: str = "Metadata"


def _params(media_range: str) -> tuple[str, dict[str, str], float]:
    kind, *rest = [p.strip() for p in media_range.split(";")]
    params: dict[str, str] = {}
    for item in rest:
        key, _, value = item.partition("=")
        params[key.strip().lower()] = value.strip().strip('"')
    try:
        q = float(params.pop("q", "1"))
    except ValueError:
        q = 0.0
    return kind.lower(), params, q


def negotiate(accept: str | None, *, tables: bool, include_object: str = "") -> Output:
    """The first format in `Accept` this endpoint can produce; 406 if there is none."""
    if not accept:
        return Output("json")
    ranges = [_params(r) for r in accept.split(",") if r.strip()]
    ranges.sort(key=lambda r: -r[2])  # stable: equal q keeps the client's order
    for kind, params, q in ranges:
        if q <= 0:
            continue
        shape = params.get("as")
        if shape:
            if kind != JSON or params.get("g") != "meta.k8s.io" or params.get("v") != "v1":
                continue
            if shape == "Table" and tables:
                return Output("table", include_object or "Metadata")
            if shape in ("PartialObjectMetadata", "PartialObjectMetadataList") and tables:
                return Output("partial")
            continue
        if kind in (JSON, "application/*", "*/*"):
            return Output("json")
        if kind in (YAML, "application/x-yaml", "text/yaml"):
            return Output("yaml")
    raise errors.not_acceptable(f"only the following media types are accepted: {JSON}, {YAML}")


def render(
    body: Any, output: Output, status: int = 200, warnings: list[str] | None = None
) -> web.Response:
    headers = {}
    if warnings:
        headers["Warning"] = ", ".join(f'299 - "{_escape(w)}"' for w in warnings)
    if output.format == "yaml":
        text = yaml.safe_dump(body, sort_keys=False, default_flow_style=False)
        return web.Response(text=text, status=status, content_type=YAML, headers=headers)
    return web.Response(
        text=json.dumps(body, separators=(",", ":")),
        status=status,
        content_type=JSON,
        headers=headers,
    )


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')
