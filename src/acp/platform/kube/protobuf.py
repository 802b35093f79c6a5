"""Decode the protobuf bodies that kubectl's typed clients send
(`Content-Type: application/vnd.kubernetes.protobuf`).

kubectl sends RoleBindings, TokenRequests and the access reviews this way, so the server must
read them. The envelope is the 4-byte magic `k8s\\0` and a `runtime.Unknown` message holding
`typeMeta{apiVersion, kind}` and the object's bytes; objects decode into the same JSON shape
the API uses, following `acp.platform.kube.schema`. Answers are always JSON (kubectl accepts
it), so there is no encoder.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from acp.platform.kube import schema
from acp.platform.kube.schema import Field, Message

MAGIC = b"k8s\x00"
MAX_DEPTH = 32


class ProtobufError(ValueError):
    pass


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ProtobufError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ProtobufError("varint too long")


def _fields(data: bytes) -> list[tuple[int, int, Any]]:
    """(field number, wire type, value) for every field in a message's bytes."""
    out: list[tuple[int, int, Any]] = []
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ProtobufError("field number 0")
        value: int | bytes
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 1:
            value, pos = data[pos : pos + 8], pos + 8
        elif wire == 2:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise ProtobufError("truncated field")
            value, pos = data[pos : pos + length], pos + length
        elif wire == 5:
            value, pos = data[pos : pos + 4], pos + 4
        else:
            raise ProtobufError(f"unsupported wire type {wire}")
        if pos > len(data):
            raise ProtobufError("truncated field")
        out.append((number, wire, value))
    return out


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _string(value: Any) -> str:
    if not isinstance(value, bytes):
        raise ProtobufError("expected a length-delimited string")
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtobufError("invalid UTF-8 in a string") from exc


def _time(value: bytes) -> str | None:
    seconds = 0
    for number, wire, item in _fields(value):
        if number == 1 and wire == 0:
            seconds = _signed(item)
    if seconds == 0:
        return None
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _map_entry(value: bytes, extra: bool) -> tuple[str, Any]:
    key: str = ""
    item: Any = [] if extra else ""
    for number, _wire, raw in _fields(value):
        if number == 1:
            key = _string(raw)
        elif number == 2:
            if extra:
                item = [_string(v) for n, _w, v in _fields(raw) if n == 1]
            else:
                item = _string(raw)
    return key, item


def _scalar(field: Field, wire: int, raw: Any, depth: int) -> Any:
    kind = field.type
    if isinstance(kind, Message):
        if wire != 2:
            raise ProtobufError(f"{field.name}: expected a message")
        return decode_message(raw, kind, depth + 1)
    if kind == schema.STRING:
        return _string(raw)
    if kind == schema.INT:
        if wire != 0:
            raise ProtobufError(f"{field.name}: expected an integer")
        return _signed(raw)
    if kind == schema.BOOL:
        if wire != 0:
            raise ProtobufError(f"{field.name}: expected a boolean")
        return bool(raw)
    if kind == schema.TIME:
        return _time(raw)
    raise AssertionError(kind)


def decode_message(data: bytes, message: Message, depth: int = 0) -> dict[str, Any]:
    if depth > MAX_DEPTH:
        raise ProtobufError("message nested too deeply")
    out: dict[str, Any] = {}
    for number, wire, raw in _fields(data):
        field = message.by_number(number)
        if field is None or field.type == schema.ANY:
            continue  # unknown or free-form: not needed by this server
        if field.type in (schema.STRING_MAP, schema.EXTRA_MAP):
            key, item = _map_entry(raw, extra=field.type == schema.EXTRA_MAP)
            out.setdefault(field.name, {})[key] = item
            continue
        if field.repeated and wire == 2 and field.type in (schema.INT, schema.BOOL):
            pos, items = 0, []
            while pos < len(raw):  # packed encoding
                item, pos = _varint(raw, pos)
                items.append(item if field.type == schema.INT else bool(item))
            out.setdefault(field.name, []).extend(items)
            continue
        value = _scalar(field, wire, raw, depth)
        if field.repeated:
            out.setdefault(field.name, []).append(value)
        else:
            out[field.name] = value
    return _drop_zero_values(out, message)


def _drop_zero_values(out: dict[str, Any], message: Message) -> dict[str, Any]:
    # Go's protobuf writes "" and 0 for unset non-pointer fields; JSON omits them.
    result: dict[str, Any] = {}
    for key, value in out.items():
        field = message.by_name(key)
        keep = field is not None and field.pointer
        if value in ("", 0, False, None, {}) and not keep and value is not True:
            continue
        result[key] = value
    return result


def decode(body: bytes) -> tuple[str, str, dict[str, Any]]:
    """(apiVersion, kind, object) of an enveloped protobuf body."""
    if not body.startswith(MAGIC):
        raise ProtobufError("the body does not start with the Kubernetes protobuf magic number")
    api_version = kind = ""
    raw = b""
    for number, wire, value in _fields(body[len(MAGIC) :]):
        if number == 1 and wire == 2:
            for n, _w, v in _fields(value):
                if n == 1:
                    api_version = _string(v)
                elif n == 2:
                    kind = _string(v)
        elif number == 2 and wire == 2:
            raw = value
    message = schema.BY_KIND.get(kind)
    if message is None:
        raise ProtobufError(f'no kind "{kind}" is registered for version "{api_version}"')
    obj = decode_message(raw, message)
    obj = {"apiVersion": api_version, "kind": kind, **obj}
    return api_version, kind, obj
