"""`ac get RESOURCE`: namespaces, serviceaccounts, RBAC objects, users and images."""

from __future__ import annotations

from typing import Any

import click

from acp.cli import printers
from acp.cli.commands.audit import get_audit_events
from acp.cli.commands.common import (
    AliasGroup,
    all_namespaces_option,
    current_namespace,
    examples,
    namespace_option,
    output_option,
    state,
)
from acp.cli.commands.images import get_images
from acp.cli.commands.kube import explained
from acp.cli.errors import CliError, UsageError
from acp.cli.http import HttpError
from acp.cli.resources import RESOURCES, Resource, as_list, with_type


@click.group(
    cls=AliasGroup,
    epilog=examples(
        "ac get namespaces",
        "ac get sa -n my-ns",
        "ac get rolebindings -n my-ns -o wide",
        "ac get clusterroles",
        "ac get images -n my-ns",
    ),
)
def get() -> None:
    """Show resources: images, namespaces (ns), serviceaccounts (sa), roles, rolebindings,
    clusterroles, clusterrolebindings, users, auditevents."""


def show(
    resource: Resource,
    objects: list[dict[str, Any]],
    output: str | None,
    *,
    single: bool,
    with_namespace: bool,
    namespace: str,
) -> None:
    if output in ("json", "yaml"):
        data = with_type(objects[0], resource) if single else as_list(objects, resource)
        printers.emit(data, output)
        return
    if output == "name":
        for obj in objects:
            click.echo(f"{resource.type_name}/{obj['metadata']['name']}")
        return
    if not objects:
        where = f" in {namespace} namespace" if namespace else ""
        click.echo(f"No resources found{where}.", err=True)
        return
    wide = output == "wide"
    headers = list(resource.headers) + (list(resource.wide_headers) if wide else [])
    rows = []
    for obj in objects:
        row = resource.row(obj) + (resource.wide_row(obj) if wide else [])
        if with_namespace:
            row.insert(0, str(obj.get("metadata", {}).get("namespace", "")))
        rows.append(row)
    if with_namespace:
        headers.insert(0, "NAMESPACE")
    click.echo(printers.table(headers, rows))


def run_get(
    resource: Resource,
    names: tuple[str, ...],
    namespace: str,
    all_namespaces: bool,
    output: str | None,
) -> None:
    if namespace and all_namespaces:
        raise UsageError("-n and -A exclude each other; give one of them")
    if all_namespaces and names:
        raise UsageError("a resource cannot be fetched by name across all namespaces")
    kube = state().target().kubernetes()
    ns = ""
    if resource.namespaced and not all_namespaces:
        ns = current_namespace(namespace)
    with explained(resource.plural, ns):
        if names:
            objects = [kube.get(resource.path(ns, name)) for name in names]
        else:
            objects = list(kube.get(resource.path(ns)).get("items") or ())
    show(
        resource,
        objects,
        output,
        single=len(names) == 1,
        with_namespace=resource.namespaced and all_namespaces,
        namespace=ns,
    )


def _get_command(resource: Resource) -> click.Command:
    example_ns = " -n my-ns" if resource.namespaced else ""

    @click.command(
        resource.plural,
        epilog=examples(
            f"ac get {resource.plural}{example_ns}",
            f"ac get {resource.singular} NAME{example_ns} -o yaml",
            f"ac get {resource.plural}{example_ns} -o name",
        ),
        help=f"List {resource.plural} (aliases: {', '.join(resource.aliases[1:])}), or show "
        "the named ones.",
    )
    @click.argument("names", nargs=-1)
    @namespace_option
    @all_namespaces_option
    @output_option("wide", "yaml", "json", "name")
    def command(
        names: tuple[str, ...], namespace: str, all_namespaces: bool, output: str | None
    ) -> None:
        run_get(resource, names, namespace, all_namespaces, output)

    return command


@click.command(
    "users",
    epilog=examples("ac get users", "ac get user alice -o yaml"),
)
@click.argument("names", nargs=-1)
@output_option("yaml", "json", "name")
def get_users(names: tuple[str, ...], output: str | None) -> None:
    """List platform users, or show the named ones (platform administrators)."""
    api = state().target().platform()
    try:
        if names:
            users = [api.get(f"/api/v1/users/{name}") for name in names]
        else:
            users = list(api.get("/api/v1/users").get("items") or ())
    except HttpError as exc:
        if exc.status == 403:
            raise CliError(
                f"{exc.message}; managing users needs the cluster-admin role of the global cluster"
            ) from exc
        raise
    if output in ("json", "yaml"):
        data: Any = (
            users[0] if len(names) == 1 else {"apiVersion": "v1", "kind": "List", "items": users}
        )
        printers.emit(data, output)
        return
    if output == "name":
        for user in users:
            click.echo(f"user/{user['username']}")
        return
    if not users:
        click.echo("No resources found.", err=True)
        return
    rows = [
        [
            str(u.get("username", "")),
            ",".join(u.get("groups") or ()) or "<none>",
            "yes" if u.get("disabled") else "no",
            printers.age(str(u.get("createdAt", ""))),
        ]
        for u in users
    ]
    click.echo(printers.table(["NAME", "GROUPS", "DISABLED", "AGE"], rows))


assert isinstance(get, AliasGroup)
get.add_aliased(get_images, "image", "img")
for _resource in RESOURCES:
    get.add_aliased(_get_command(_resource), *_resource.aliases)
get.add_aliased(get_users, "user")
get.add_aliased(get_audit_events, "auditevent", "audit")
