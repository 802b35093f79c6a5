"""`ac delete RESOURCE NAME…`, `ac delete user` and `ac delete images`."""

from __future__ import annotations

import click

from acp.cli.commands.common import (
    AliasGroup,
    current_namespace,
    dry_run_option,
    examples,
    namespace_option,
    state,
)
from acp.cli.commands.images import delete_images
from acp.cli.commands.kube import dry_run_params, dry_run_suffix, explained
from acp.cli.errors import CliError
from acp.cli.http import HttpError
from acp.cli.resources import RESOURCES, Resource


@click.group(
    cls=AliasGroup,
    epilog=examples(
        "ac delete rolebinding pullers -n my-ns",
        "ac delete sa builder -n my-ns",
        "ac delete namespace old-ns",
        "ac delete user bob",
        "ac delete images --repo=my-ns/my-app:v1 --confirm",
    ),
)
def delete() -> None:
    """Delete resources: namespaces (ns), serviceaccounts (sa), roles, rolebindings,
    clusterroles, clusterrolebindings, users, images."""


def run_delete(
    resource: Resource, names: tuple[str, ...], namespace: str, dry_run: str, ignore_not_found: bool
) -> None:
    ns = current_namespace(namespace) if resource.namespaced else ""
    suffix = dry_run_suffix(dry_run)
    if dry_run == "client":
        for name in names:
            click.echo(f'{resource.type_name} "{name}" deleted{suffix}')
        return
    kube = state().target().kubernetes()
    for name in names:
        try:
            with explained(resource.plural, ns):
                kube.request("DELETE", resource.path(ns, name), params=dry_run_params(dry_run))
        except HttpError as exc:
            if exc.status == 404 and ignore_not_found:
                continue
            raise
        click.echo(f'{resource.type_name} "{name}" deleted{suffix}')


def _delete_command(resource: Resource) -> click.Command:
    example_ns = " -n my-ns" if resource.namespaced else ""

    @click.command(
        resource.plural,
        epilog=examples(
            f"ac delete {resource.singular} NAME{example_ns}",
            f"ac delete {resource.plural} NAME OTHER{example_ns} --dry-run=server",
        ),
        help=f"Delete {resource.plural} by name (aliases: {', '.join(resource.aliases[1:])}).",
    )
    @click.argument("names", nargs=-1, required=True)
    @namespace_option
    @dry_run_option
    @click.option("--ignore-not-found", is_flag=True, help="Do not fail on names that are gone.")
    def command(
        names: tuple[str, ...], namespace: str, dry_run: str, ignore_not_found: bool
    ) -> None:
        run_delete(resource, names, namespace, dry_run, ignore_not_found)

    return command


@click.command("users", epilog=examples("ac delete user bob"))
@click.argument("names", nargs=-1, required=True)
@click.option("--ignore-not-found", is_flag=True, help="Do not fail on users that are gone.")
def delete_users(names: tuple[str, ...], ignore_not_found: bool) -> None:
    """Delete platform users and end their sessions (platform administrators)."""
    api = state().target().platform()
    for name in names:
        try:
            api.request("DELETE", f"/api/v1/users/{name}")
        except HttpError as exc:
            if exc.status == 404 and ignore_not_found:
                continue
            if exc.status == 403:
                raise CliError(
                    f"{exc.message}; managing users needs the cluster-admin role of the global "
                    "cluster"
                ) from exc
            raise
        click.echo(f'user "{name}" deleted')


assert isinstance(delete, AliasGroup)
delete.add_aliased(delete_images, "image", "img")
for _resource in RESOURCES:
    delete.add_aliased(_delete_command(_resource), *_resource.aliases)
delete.add_aliased(delete_users, "user")
