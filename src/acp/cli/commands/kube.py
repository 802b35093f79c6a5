"""Calls to the cluster's Kubernetes API shared by `ac get`, `ac create` and `ac delete`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from acp.cli.errors import CliError
from acp.cli.http import HttpError
from acp.cli.resources import NEEDED_ROLE, Resource


def forbidden_hint(resource: str, namespace: str) -> str:
    role = NEEDED_ROLE.get(resource, "a suitable")
    if role == "cluster-admin" or not namespace:
        return f"this needs the {role} role; ask a platform administrator"
    return (
        f"this needs the {role} role in namespace {namespace!r}; ask an administrator of "
        "that namespace to bind it to you"
    )


@contextmanager
def explained(resource: str, namespace: str) -> Iterator[None]:
    """Add what to do next to a refusal from the Kubernetes API."""
    try:
        yield
    except HttpError as exc:
        message = exc.message.rstrip(".")
        if exc.status == 403:
            raise CliError(f"{message}; {forbidden_hint(resource, namespace)}") from exc
        if exc.status == 404 and namespace and f'namespaces "{namespace}" not found' in message:
            raise CliError(
                f"{message}; check the name, or create it with `ac create namespace {namespace}`"
            ) from exc
        raise


def dry_run_params(dry_run: str) -> dict[str, str]:
    return {"dryRun": "All"} if dry_run == "server" else {}


def dry_run_suffix(dry_run: str) -> str:
    return {"client": " (dry run)", "server": " (server dry run)"}.get(dry_run, "")


def create(
    resource: Resource, body: dict[str, Any], namespace: str, dry_run: str
) -> dict[str, Any]:
    """POST `body`, or with --dry-run=client return it untouched."""
    if dry_run == "client":
        return body
    from acp.cli.commands.common import state

    kube = state().target().kubernetes()
    with explained(resource.plural, namespace):
        response = kube.request(
            "POST", resource.path(namespace), json_body=body, params=dry_run_params(dry_run)
        )
    result: dict[str, Any] = response.json()
    return result
