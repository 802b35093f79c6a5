"""`ac create namespace|serviceaccount|rolebinding|clusterrolebinding|token|user`."""

from __future__ import annotations

import re
import sys
from typing import Any

import click

from acp.cli import printers
from acp.cli.commands.common import (
    NAMESPACE_RE,
    AliasGroup,
    current_namespace,
    dry_run_option,
    examples,
    namespace_option,
    output_option,
    state,
)
from acp.cli.commands.kube import create, dry_run_suffix, explained
from acp.cli.errors import CliError, UsageError
from acp.cli.http import HttpError
from acp.cli.resources import (
    CLUSTERROLEBINDINGS,
    NAMESPACES,
    RBAC_GROUP,
    ROLEBINDINGS,
    SERVICEACCOUNTS,
    Resource,
)

DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")


@click.group(
    "create",
    cls=AliasGroup,
    epilog=examples(
        "ac create namespace my-ns",
        "ac create serviceaccount builder -n my-ns",
        "ac create rolebinding pullers --clusterrole=system:image-puller --user=alice -n my-ns",
        "ac create token builder -n my-ns --duration=1h",
        "ac create user alice --password-stdin < password.txt",
    ),
)
def create_group() -> None:
    """Create namespaces, serviceaccounts, role bindings, ServiceAccount tokens and users."""


def report(resource: Resource, obj: dict[str, Any], output: str | None, dry_run: str) -> None:
    """Print a created object like kubectl: `kind/name created` or the object itself."""
    if output in ("json", "yaml"):
        printers.emit(obj, output)
    elif output == "name":
        click.echo(f"{resource.type_name}/{obj['metadata']['name']}")
    else:
        click.echo(
            f"{resource.type_name}/{obj['metadata']['name']} created{dry_run_suffix(dry_run)}"
        )


def check_name(name: str, pattern: re.Pattern[str], what: str) -> None:
    if not pattern.fullmatch(name):
        raise UsageError(
            f"{name!r} is not a valid {what} name: use lower-case letters, digits and '-'"
        )


@create_group.command(
    "namespace",
    epilog=examples("ac create namespace my-ns", "ac create ns my-ns --dry-run=client -o yaml"),
)
@click.argument("name")
@dry_run_option
@output_option("yaml", "json", "name")
def create_namespace(name: str, dry_run: str, output: str | None) -> None:
    """Create a namespace (alias: ns)."""
    check_name(name, NAMESPACE_RE, "namespace")
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    report(NAMESPACES, create(NAMESPACES, body, "", dry_run), output, dry_run)


@create_group.command(
    "serviceaccount",
    epilog=examples("ac create serviceaccount builder -n my-ns", "ac create sa builder -o yaml"),
)
@click.argument("name")
@namespace_option
@dry_run_option
@output_option("yaml", "json", "name")
def create_serviceaccount(name: str, namespace: str, dry_run: str, output: str | None) -> None:
    """Create a ServiceAccount (alias: sa)."""
    check_name(name, DNS_SUBDOMAIN, "serviceaccount")
    ns = current_namespace(namespace)
    body = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": name, "namespace": ns},
    }
    report(SERVICEACCOUNTS, create(SERVICEACCOUNTS, body, ns, dry_run), output, dry_run)


def subjects(
    users: tuple[str, ...], groups: tuple[str, ...], sas: tuple[str, ...]
) -> list[dict[str, str]]:
    result = [{"kind": "User", "apiGroup": RBAC_GROUP, "name": u} for u in users]
    result += [{"kind": "Group", "apiGroup": RBAC_GROUP, "name": g} for g in groups]
    for value in sas:
        sa_namespace, sep, sa_name = value.partition(":")
        if not sep or not sa_namespace or not sa_name or ":" in sa_name:
            raise UsageError(
                f"--serviceaccount {value!r} must be NAMESPACE:NAME, for example my-ns:builder"
            )
        result.append({"kind": "ServiceAccount", "name": sa_name, "namespace": sa_namespace})
    return result


def _binding_options(func: Any) -> Any:
    for option in reversed(
        [
            click.option("--clusterrole", default="", metavar="ROLE", help="ClusterRole to grant."),
            click.option(
                "--user", "users", multiple=True, metavar="USER", help="User (repeatable)."
            ),
            click.option(
                "--group", "groups", multiple=True, metavar="GROUP", help="Group (repeatable)."
            ),
            click.option(
                "--serviceaccount",
                "serviceaccounts",
                multiple=True,
                metavar="NS:NAME",
                help="ServiceAccount as NAMESPACE:NAME (repeatable).",
            ),
            dry_run_option,
            output_option("yaml", "json", "name"),
        ]
    ):
        func = option(func)
    return func


@create_group.command(
    "rolebinding",
    epilog=examples(
        "# Let a user pull images in a namespace",
        "ac create rolebinding alice-pull --clusterrole=system:image-puller --user=alice -n my-ns",
        "",
        "# Let a ServiceAccount push",
        "ac create rolebinding ci-push --clusterrole=system:image-pusher "
        "--serviceaccount=my-ns:builder -n my-ns",
        "",
        "# Several subjects; make a namespace publicly pullable",
        "ac create rolebinding readers --clusterrole=view --user=a --user=b --group=team -n my-ns",
        "ac create rolebinding public --clusterrole=system:image-puller "
        "--group=system:unauthenticated -n my-ns",
    ),
)
@click.argument("name")
@click.option("--role", default="", metavar="ROLE", help="Role (of the same namespace) to grant.")
@_binding_options
@namespace_option
def create_rolebinding(
    name: str,
    role: str,
    clusterrole: str,
    users: tuple[str, ...],
    groups: tuple[str, ...],
    serviceaccounts: tuple[str, ...],
    dry_run: str,
    output: str | None,
    namespace: str,
) -> None:
    """Grant a ClusterRole or Role to users, groups and ServiceAccounts in one namespace."""
    check_name(name, DNS_SUBDOMAIN, "rolebinding")
    if bool(role) == bool(clusterrole):
        raise UsageError("give exactly one of --clusterrole=ROLE and --role=ROLE")
    ns = current_namespace(namespace)
    body = {
        "apiVersion": f"{RBAC_GROUP}/v1",
        "kind": "RoleBinding",
        "metadata": {"name": name, "namespace": ns},
        "roleRef": {
            "apiGroup": RBAC_GROUP,
            "kind": "ClusterRole" if clusterrole else "Role",
            "name": clusterrole or role,
        },
        "subjects": subjects(users, groups, serviceaccounts),
    }
    report(ROLEBINDINGS, create(ROLEBINDINGS, body, ns, dry_run), output, dry_run)


@create_group.command(
    "clusterrolebinding",
    epilog=examples(
        "ac create clusterrolebinding pruners --clusterrole=system:image-pruner --user=ops",
    ),
)
@click.argument("name")
@_binding_options
def create_clusterrolebinding(
    name: str,
    clusterrole: str,
    users: tuple[str, ...],
    groups: tuple[str, ...],
    serviceaccounts: tuple[str, ...],
    dry_run: str,
    output: str | None,
) -> None:
    """Grant a ClusterRole in every namespace of the cluster."""
    check_name(name, DNS_SUBDOMAIN, "clusterrolebinding")
    if not clusterrole:
        raise UsageError("--clusterrole=ROLE is required")
    body = {
        "apiVersion": f"{RBAC_GROUP}/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name},
        "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": clusterrole},
        "subjects": subjects(users, groups, serviceaccounts),
    }
    report(CLUSTERROLEBINDINGS, create(CLUSTERROLEBINDINGS, body, "", dry_run), output, dry_run)


def parse_duration(value: str) -> int:
    """`3600`, `90s`, `10m`, `1h30m`, `2d` → seconds."""
    if value.isdigit():
        return int(value)
    parts = re.fullmatch(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", value)
    if not value or parts is None:
        raise UsageError(f"--duration {value!r} is not a duration like 10m, 1h or 1h30m")
    days, hours, minutes, seconds = (int(p or 0) for p in parts.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


@create_group.command(
    "token",
    epilog=examples(
        "# A token for the ServiceAccount builder, valid for one hour",
        "ac create token builder -n my-ns --duration=1h",
        "",
        "# Use it with an OCI client (any user name works)",
        "TOKEN=$(ac create token builder -n my-ns)",
        'podman login REGISTRY -u builder -p "$TOKEN"',
    ),
)
@click.argument("serviceaccount")
@namespace_option
@click.option("--duration", default="", metavar="DURATION", help="How long it is valid (e.g. 1h).")
@click.option("--audience", "audiences", multiple=True, help="Intended audience (repeatable).")
@output_option("yaml", "json")
def create_token(
    serviceaccount: str,
    namespace: str,
    duration: str,
    audiences: tuple[str, ...],
    output: str | None,
) -> None:
    """Request a token for a ServiceAccount (TokenRequest) and print it."""
    ns = current_namespace(namespace)
    spec: dict[str, Any] = {}
    if audiences:
        spec["audiences"] = list(audiences)
    if duration:
        spec["expirationSeconds"] = parse_duration(duration)
    body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec}
    kube = state().target().kubernetes()
    with explained("serviceaccounts", ns):
        response = kube.request(
            "POST", SERVICEACCOUNTS.path(ns, f"{serviceaccount}/token"), json_body=body
        )
    result = response.json()
    if output:
        printers.emit(result, output)
    else:
        click.echo(result["status"]["token"])


@create_group.command(
    "user",
    epilog=examples(
        "ac create user alice --password='s3cret-passw0rd'",
        "printf '%s' \"$PASSWORD\" | ac create user alice --password-stdin",
        "ac create user ci --password-stdin --group=builders < pw.txt",
    ),
)
@click.argument("name")
@click.option("--password", default="", help="The new user's password.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--group", "groups", multiple=True, help="Group membership (repeatable).")
@dry_run_option
@output_option("yaml", "json", "name")
def create_user(
    name: str,
    password: str,
    password_stdin: bool,
    groups: tuple[str, ...],
    dry_run: str,
    output: str | None,
) -> None:
    """Create a platform user (platform administrators)."""
    if bool(password) == password_stdin:
        raise UsageError("give exactly one of --password=PASSWORD and --password-stdin")
    if password_stdin:
        password = sys.stdin.read().rstrip("\r\n")
        if not password:
            raise UsageError("--password-stdin read an empty password")
    if dry_run == "server":
        raise UsageError("users support --dry-run=client only")
    body: dict[str, Any] = {"username": name, "password": password}
    if groups:
        body["groups"] = list(groups)
    if dry_run == "client":
        user: dict[str, Any] = {"username": name, "groups": list(groups)}
    else:
        api = state().target().platform()
        try:
            user = api.request("POST", "/api/v1/users", json_body=body).json()
        except HttpError as exc:
            if exc.status == 403:
                raise CliError(
                    f"{exc.message}; managing users needs the cluster-admin role of the global "
                    "cluster"
                ) from exc
            raise
    if output in ("json", "yaml"):
        printers.emit(user, output)
    elif output == "name":
        click.echo(f"user/{name}")
    else:
        click.echo(f"user/{name} created{dry_run_suffix(dry_run)}")


assert isinstance(create_group, AliasGroup)
for _name, _aliases in (
    ("namespace", ("ns", "namespaces")),
    ("serviceaccount", ("sa", "serviceaccounts")),
    ("rolebinding", ("rolebindings",)),
    ("clusterrolebinding", ("clusterrolebindings",)),
    ("user", ("users",)),
):
    create_group.aliases.update(dict.fromkeys(_aliases, _name))
