"""`ac auth can-i` and `ac auth whoami`."""

from __future__ import annotations

from typing import Any

import click

from acp.cli import printers
from acp.cli.commands.common import current_namespace, examples, output_option, state
from acp.cli.resources import group_of

REVIEW_PATH = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"


@click.group(epilog=examples("ac auth can-i delete imagestreamtags -n my-ns", "ac auth whoami"))
def auth() -> None:
    """Inspect authorization: what you (or someone else) may do."""


def review_spec(
    verb: str, resource: str, name: str, namespace: str, subresource: str
) -> dict[str, Any]:
    """The spec of a SelfSubjectAccessReview for `ac auth can-i VERB RESOURCE [NAME]`."""
    if resource.startswith("/"):
        return {"nonResourceAttributes": {"verb": verb, "path": resource}}
    resource, _, slash_sub = resource.partition("/")
    plural, group = group_of(resource)
    attributes = {
        "namespace": namespace,
        "verb": verb,
        "group": group,
        "resource": plural,
        "subresource": subresource or slash_sub,
        "name": name,
    }
    return {"resourceAttributes": {k: v for k, v in attributes.items() if v}}


@auth.command(
    "can-i",
    epilog=examples(
        "# May I push images in my-ns? (push = update on imagestreams/layers)",
        "ac auth can-i update imagestreams/layers -n my-ns",
        "",
        "# May I delete image tags there?",
        "ac auth can-i delete imagestreamtags -n my-ns",
        "",
        "# May a ServiceAccount pull? (needs impersonation rights)",
        "ac auth can-i get imagestreams/layers -n my-ns --as=system:serviceaccount:my-ns:builder",
        "",
        "# Cluster-wide",
        "ac auth can-i create namespaces",
    ),
)
@click.argument("verb")
@click.argument("resource")
@click.argument("name", required=False, default="")
@click.option("-n", "--namespace", "namespace", default="", metavar="NS", help="The namespace.")
@click.option("-A", "--all-namespaces", "all_namespaces", is_flag=True, help="In every namespace.")
@click.option("--subresource", default="", help="Subresource, e.g. layers.")
@click.option("--as", "as_user", default="", metavar="USER", help="Ask for this user.")
@click.option("--as-group", "as_groups", multiple=True, metavar="GROUP", help="…and these groups.")
@click.option("-q", "--quiet", is_flag=True, help="Only the exit status: 0 yes, 1 no.")
def can_i(
    verb: str,
    resource: str,
    name: str,
    namespace: str,
    all_namespaces: bool,
    subresource: str,
    as_user: str,
    as_groups: tuple[str, ...],
    quiet: bool,
) -> None:
    """Answer yes or no: may VERB be done on RESOURCE? Exit status 0 for yes, 1 for no."""
    ns = "" if all_namespaces or resource.startswith("/") else current_namespace(namespace)
    body = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": review_spec(verb, resource, name, ns, subresource),
    }
    headers = []
    if as_user:
        headers.append(("Impersonate-User", as_user))
    headers += [("Impersonate-Group", g) for g in as_groups]
    kube = state().target().kubernetes()
    status = (
        kube.request("POST", REVIEW_PATH, json_body=body, headers=headers).json().get("status", {})
    )
    allowed = bool(status.get("allowed"))
    if not quiet:
        click.echo("yes" if allowed else "no")
    if not allowed:
        raise click.exceptions.Exit(1)


@auth.command("whoami", epilog=examples("ac auth whoami", "ac auth whoami -o yaml"))
@output_option("yaml", "json")
def whoami(output: str | None) -> None:
    """Show who the current credentials belong to."""
    target = state().target()
    me = target.platform().get("/api/v1/whoami")
    if output:
        printers.emit(me, output)
        return
    rows = [
        ["Username", str(me.get("username", ""))],
        ["Groups", ", ".join(me.get("groups") or ())],
        ["Kind", str(me.get("kind", ""))],
        ["Cluster", target.cluster],
    ]
    click.echo(printers.pairs(rows))
