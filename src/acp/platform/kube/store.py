"""The service behind the stored kinds: get, list, create, update, patch and delete, each in one
transaction with its audit record, with `dryRun=All` (everything but the commit) and the
resourceVersion and uid preconditions of the Kubernetes API."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from acp.db import objects
from acp.platform.kube import errors
from acp.platform.kube.calls import Call
from acp.platform.kube.errors import Qualified
from acp.platform.kube.kinds import Kind
from acp.platform.kube.resources import NAMESPACES

GENERATED_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"
PATCH_ATTEMPTS = 5
MODIFIED = (
    "the object has been modified; please apply your changes to the latest version and try again"
)


class _DryRun(Exception):
    """Raised inside a write transaction to roll it back after a dry run."""

    def __init__(self, result: Any) -> None:
        self.result = result


class _Raced(Exception):
    """Another writer changed the object between our read and our write."""


async def _write(call: Call, work: Callable[[AsyncConnection], Any]) -> Any:
    """Run `work` in a write transaction; under dryRun=All, roll it back and return its result."""
    dry_run = call.dry_run
    try:
        async with call.ctx.db.write() as conn:
            result = await work(conn)
            if dry_run:
                raise _DryRun(result)
            return result
    except _DryRun as done:
        return done.result


def _audit_namespace(kind: Kind, namespace: str, name: str) -> str:
    # A namespace's own records carry its name, so that one query finds a namespace's history.
    return name if kind.resource is NAMESPACES else namespace


def _qualified(kind: Kind, name: str) -> Qualified:
    return Qualified.of(kind.resource, name)


def _invalid(kind: Kind, name: str, causes: list[errors.Cause]) -> errors.KubeError:
    return errors.invalid(kind.resource.kind, kind.resource.group, name, causes)


async def _require_namespace(call: Call, conn: AsyncConnection, namespace: str) -> None:
    found = await objects.get(conn, call.cluster_id, "Namespace", "", namespace, lock=True)
    if found is None:
        raise errors.not_found(Qualified.of(NAMESPACES, namespace))


# --- reads -----------------------------------------------------------------------------------


async def get(call: Call, kind: Kind, namespace: str, name: str) -> dict[str, Any]:
    async with call.ctx.db.read() as conn:
        obj = await objects.get(conn, call.cluster_id, kind.resource.kind, namespace, name)
    if obj is None:
        raise errors.not_found(_qualified(kind, name))
    return obj


async def list_all(
    call: Call, kind: Kind, namespace: str | None
) -> tuple[list[dict[str, Any]], int]:
    """Every object of the kind (in `namespace`, or all when None) and the resourceVersion."""
    async with call.ctx.db.read() as conn:
        items = await objects.list_objects(conn, call.cluster_id, kind.resource.kind, namespace)
        version = await objects.current_resource_version(conn, call.cluster_id)
    return items, version


# --- writes ----------------------------------------------------------------------------------


def _check_identity(kind: Kind, obj: dict[str, Any], namespace: str, name: str | None) -> None:
    meta = obj.get("metadata") or {}
    given_ns = meta.get("namespace", "")
    if kind.resource.namespaced and given_ns and given_ns != namespace:
        raise errors.bad_request(
            "the namespace of the provided object does not match the namespace sent on the request"
        )
    if name is not None and meta.get("name") and meta["name"] != name:
        raise errors.bad_request(
            f"the name of the object ({meta['name']}) does not match the name on the URL ({name})"
        )


def _name_from_generate(obj: dict[str, Any]) -> None:
    meta = obj["metadata"]
    if not meta.get("name") and meta.get("generateName"):
        suffix = "".join(secrets.choice(GENERATED_NAME_CHARS) for _ in range(5))
        meta["name"] = meta["generateName"] + suffix


async def create(call: Call, kind: Kind, obj: dict[str, Any], namespace: str) -> dict[str, Any]:
    _check_identity(kind, obj, namespace, None)
    if (obj.get("metadata") or {}).get("resourceVersion"):
        raise errors.bad_request("resourceVersion should not be set on objects to be created")
    obj.setdefault("metadata", {})
    _name_from_generate(obj)
    body = kind.normalise(obj, namespace)
    name = body["metadata"].get("name", "")
    if causes := kind.causes(body):
        raise _invalid(kind, name, causes)

    async def work(conn: AsyncConnection) -> dict[str, Any]:
        if kind.resource.namespaced:
            await _require_namespace(call, conn, namespace)
        await kind.authorize_write(call, conn, body, None)
        try:
            stored = await objects.create(conn, call.cluster, call.cluster_id, body)
        except objects.AlreadyExists as exc:
            raise errors.already_exists(_qualified(kind, name)) from exc
        await call.audit(
            f"{kind.resource.singular}.create",
            conn=conn,
            namespace=_audit_namespace(kind, namespace, name),
            resource=kind.resource.plural,
            name=name,
            details=kind.audit_details(stored),
        )
        await kind.after_create(call, conn, stored)
        return stored

    return await _write(call, work)


def _preconditions(kind: Kind, current: dict[str, Any], uid: str, version: str) -> None:
    name = current["metadata"]["name"]
    if uid and uid != current["metadata"]["uid"]:
        raise errors.conflict(
            _qualified(kind, name),
            f"Precondition failed: UID in precondition: {uid}, UID in object meta: "
            f"{current['metadata']['uid']}",
        )
    if version and version != current["metadata"]["resourceVersion"]:
        raise errors.conflict(_qualified(kind, name), MODIFIED)


async def _replace_in(
    call: Call,
    conn: AsyncConnection,
    kind: Kind,
    current: dict[str, Any],
    obj: dict[str, Any],
    namespace: str,
) -> dict[str, Any]:
    """Validate `obj` as the next version of `current` and store it."""
    meta = obj.get("metadata") or {}
    _preconditions(kind, current, meta.get("uid", ""), str(meta.get("resourceVersion") or ""))
    body = kind.normalise(obj, namespace)
    name = current["metadata"]["name"]
    body["metadata"]["name"] = name
    kind.carry_over(body, current)
    causes = kind.causes(body) + kind.update_causes(body, current)
    if causes:
        raise _invalid(kind, name, causes)
    await kind.authorize_write(call, conn, body, current)
    body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
    try:
        stored = await objects.update(conn, call.cluster, call.cluster_id, body)
    except objects.Conflict as exc:
        raise _Raced() from exc
    await call.audit(
        f"{kind.resource.singular}.update",
        conn=conn,
        namespace=namespace,
        resource=kind.resource.plural,
        name=name,
        details=kind.audit_details(stored),
    )
    return stored


async def replace(
    call: Call, kind: Kind, obj: dict[str, Any], namespace: str, name: str, create_ok: bool
) -> tuple[dict[str, Any], bool]:
    """PUT: (stored object, whether it was created)."""
    _check_identity(kind, obj, namespace, name)
    obj.setdefault("metadata", {})["name"] = name

    async def work(conn: AsyncConnection) -> tuple[dict[str, Any], bool]:
        current = await objects.get(conn, call.cluster_id, kind.resource.kind, namespace, name)
        if current is None:
            if not create_ok:
                raise errors.not_found(_qualified(kind, name))
            if obj["metadata"].get("resourceVersion"):
                raise errors.not_found(_qualified(kind, name))
            body = kind.normalise(obj, namespace)
            if causes := kind.causes(body):
                raise _invalid(kind, name, causes)
            if kind.resource.namespaced:
                await _require_namespace(call, conn, namespace)
            await kind.authorize_write(call, conn, body, None)
            stored = await objects.create(conn, call.cluster, call.cluster_id, body)
            await kind.after_create(call, conn, stored)
            await call.audit(
                f"{kind.resource.singular}.create",
                conn=conn,
                namespace=namespace,
                resource=kind.resource.plural,
                name=name,
                details=kind.audit_details(stored),
            )
            return stored, True
        return await _replace_in(call, conn, kind, current, obj, namespace), False

    try:
        return await _write(call, work)
    except _Raced as exc:
        raise errors.conflict(_qualified(kind, name), MODIFIED) from exc


async def patch(
    call: Call,
    kind: Kind,
    namespace: str,
    name: str,
    apply_patch: Callable[[dict[str, Any]], dict[str, Any]],
) -> dict[str, Any]:
    """PATCH: apply to the current object and store, retrying if someone else wrote first
    (unless the patch itself names a resourceVersion)."""
    for attempt in range(PATCH_ATTEMPTS):

        async def work(conn: AsyncConnection) -> dict[str, Any]:
            current = await objects.get(conn, call.cluster_id, kind.resource.kind, namespace, name)
            if current is None:
                raise errors.not_found(_qualified(kind, name))
            patched = apply_patch(current)
            if not isinstance(patched, dict) or not isinstance(patched.get("metadata", {}), dict):
                raise errors.bad_request("the patch does not produce an object")
            patched.setdefault("metadata", {})
            _check_identity(kind, patched, namespace, name)
            given = str(patched["metadata"].get("resourceVersion") or "")
            if given == current["metadata"]["resourceVersion"]:
                patched["metadata"].pop("resourceVersion")  # unchanged: not a precondition
            return await _replace_in(call, conn, kind, current, patched, namespace)

        try:
            return await _write(call, work)
        except _Raced as exc:
            if attempt == PATCH_ATTEMPTS - 1:
                raise errors.conflict(_qualified(kind, name), MODIFIED) from exc
    raise AssertionError("unreachable")


async def delete(
    call: Call, kind: Kind, namespace: str, name: str, uid: str = "", version: str = ""
) -> dict[str, Any]:
    async def work(conn: AsyncConnection) -> dict[str, Any]:
        current = await objects.get(conn, call.cluster_id, kind.resource.kind, namespace, name)
        if current is None:
            raise errors.not_found(_qualified(kind, name))
        _preconditions(kind, current, uid, version)
        await objects.delete(
            conn, call.cluster, call.cluster_id, kind.resource.kind, namespace, name
        )
        extra = await kind.after_delete(call, conn, current)
        await call.audit(
            f"{kind.resource.singular}.delete",
            conn=conn,
            namespace=_audit_namespace(kind, namespace, name),
            resource=kind.resource.plural,
            name=name,
            details={**kind.audit_details(current), **extra},
        )
        return current

    return await _write(call, work)
