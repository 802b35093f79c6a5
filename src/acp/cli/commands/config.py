"""`ac config …` (sessions, clusters, contexts, the file itself) and `ac namespace`."""

from __future__ import annotations

import copy
from typing import Any

import click

from acp.cli import printers
from acp.cli.commands.common import NAMESPACE_RE, examples, output_option, state
from acp.cli.errors import CliError, UsageError
from acp.cli.http import HttpError
from acp.cli.kubeconfig import KubeConfig, Session, context_name
from acp.cli.resources import NAMESPACES

SECRET_FIELDS = ("token", "password", "client-key-data")
DATA_FIELDS = ("certificate-authority-data", "client-certificate-data")


def _current_session(config: KubeConfig, session_name: str = "") -> Session:
    if session_name:
        session = config.session(session_name)
        if session is None:
            raise CliError(
                f"there is no session {session_name!r}; run `ac config get-sessions` to see them"
            )
        return session
    current = config.resolve(state().context_flag or None)
    if current is None:
        raise CliError("you are not logged in; run `ac login <platform-url>` first")
    return current.session


@click.group(
    epilog=examples(
        "ac config get-clusters",
        "ac config use-cluster dev",
        "ac config get-sessions",
        "ac config use-session prod",
        "ac config view",
    )
)
def config() -> None:
    """Show and switch sessions, clusters and contexts in the kubeconfig."""


@config.command(
    "get-clusters",
    epilog=examples(
        "# Clusters of the current session",
        "ac config get-clusters",
        "",
        "# Clusters of another session, as YAML",
        "ac config get-clusters --session prod -o yaml",
    ),
)
@click.option("--session", "session_name", default="", help="Session (default: the current).")
@output_option("json", "yaml", "name")
def get_clusters(session_name: str, output: str | None) -> None:
    """List the clusters of a session and their registry addresses."""
    cfg = state().config()
    session = _current_session(cfg, session_name)
    current = cfg.resolve(state().context_flag or None)
    current_cluster = (
        current.cluster.name if current and current.session.name == session.name else ""
    )
    if output == "name":
        for cluster in session.clusters:
            click.echo(cluster.name)
        return
    if output:
        printers.emit(
            [
                {
                    "name": c.name,
                    "current": c.name == current_cluster,
                    "kubernetesApi": c.kubernetes_api,
                    "registryHost": c.registry_host,
                    "registryApiUrl": c.registry_api_url,
                }
                for c in session.clusters
            ],
            output,
        )
        return
    rows = [
        ["*" if c.name == current_cluster else "", c.name, c.registry_host, c.registry_api_url]
        for c in session.clusters
    ]
    click.echo(printers.table(["CURRENT", "NAME", "REGISTRY", "REGISTRY API URL"], rows))


@config.command(
    "use-cluster",
    epilog=examples(
        "# Switch to the cluster `dev` of the current session",
        "ac config use-cluster dev",
        "",
        "# Switch session and cluster at once",
        "ac config use-cluster prod/global",
    ),
)
@click.argument("name")
def use_cluster(name: str) -> None:
    """Make a cluster of the current session (or SESSION/CLUSTER) the current context."""
    st = state()
    cfg = st.config()
    if "/" in name:
        session_name, _, cluster_name = name.partition("/")
        session = _current_session(cfg, session_name)
    else:
        session, cluster_name = _current_session(cfg), name
    if session.cluster(cluster_name) is None:
        known = ", ".join(c.name for c in session.clusters)
        raise CliError(
            f"session {session.name!r} has no cluster {cluster_name!r} (it has: {known}); "
            "run `ac config get-clusters`, or `ac login` again if it was added since"
        )
    cfg.use(session.name, cluster_name)
    cfg.save()
    context = context_name(session.name, cluster_name)
    click.echo(f'Switched to cluster "{cluster_name}" (context "{context}").')


@config.command(
    "get-sessions",
    epilog=examples("# Every login session in the kubeconfig", "ac config get-sessions"),
)
@output_option("json", "yaml", "name")
def get_sessions(output: str | None) -> None:
    """List login sessions: platform, user, clusters and expiry."""
    cfg = state().config()
    current = cfg.resolve(state().context_flag or None)
    current_name = current.session.name if current else ""
    sessions = cfg.sessions()
    if output == "name":
        for s in sessions:
            click.echo(s.name)
        return
    if output:
        printers.emit(
            [
                {
                    "name": s.name,
                    "current": s.name == current_name,
                    "platformUrl": s.platform_url,
                    "username": s.username,
                    "clusters": [c.name for c in s.clusters],
                    "currentCluster": s.current_cluster,
                    "expiresAt": s.expires_at,
                }
                for s in sessions
            ],
            output,
        )
        return
    if not sessions:
        click.echo("No sessions; log in with `ac login <platform-url>`.", err=True)
        return
    rows = [
        [
            "*" if s.name == current_name else "",
            s.name,
            s.platform_url,
            s.username,
            ",".join(c.name for c in s.clusters),
            s.expires_at,
        ]
        for s in sessions
    ]
    click.echo(printers.table(["CURRENT", "NAME", "PLATFORM", "USER", "CLUSTERS", "EXPIRES"], rows))


@config.command(
    "use-session",
    epilog=examples(
        "# Go back to the session `prod`, on its last used cluster", "ac config use-session prod"
    ),
)
@click.argument("name")
def use_session(name: str) -> None:
    """Make a session current, on the cluster it used last."""
    cfg = state().config()
    session = _current_session(cfg, name)
    cluster = session.default_cluster()
    if cluster is None:
        raise CliError(f"session {name!r} has no clusters; log in again with `ac login`")
    cfg.use(session.name, cluster.name)
    cfg.save()
    click.echo(f'Switched to session "{name}", cluster "{cluster.name}".')


@config.command(
    "current-context",
    epilog=examples("ac config current-context"),
)
def current_context() -> None:
    """Print the current context's name."""
    name = state().config().current_context
    if not name:
        raise CliError("no current context is set; run `ac login <platform-url>` first")
    click.echo(name)


@config.command(
    "get-contexts",
    epilog=examples("ac config get-contexts", "ac config get-contexts -o name"),
)
@output_option("name")
def get_contexts(output: str | None) -> None:
    """List every context in the kubeconfig (including other tools' ones)."""
    cfg = state().config()
    rows = []
    for item in cfg.data["contexts"]:
        if not isinstance(item, dict):
            continue
        ctx = item.get("context") or {}
        name = str(item.get("name", ""))
        if output == "name":
            click.echo(name)
            continue
        rows.append(
            [
                "*" if name == cfg.current_context else "",
                name,
                str(ctx.get("cluster", "")),
                str(ctx.get("user", "")),
                str(ctx.get("namespace", "")),
            ]
        )
    if output != "name":
        click.echo(printers.table(["CURRENT", "NAME", "CLUSTER", "AUTHINFO", "NAMESPACE"], rows))


def redacted(data: dict[str, Any]) -> dict[str, Any]:
    """A copy of a kubeconfig with secrets replaced, as `kubectl config view` does."""
    data = copy.deepcopy(data)
    for item in data.get("users") or ():
        user = (item or {}).get("user") or {}
        for key in SECRET_FIELDS:
            if key in user:
                user[key] = "REDACTED"
    for item in data.get("clusters") or ():
        cluster = (item or {}).get("cluster") or {}
        for key in DATA_FIELDS:
            if key in cluster:
                cluster[key] = "DATA+OMITTED"
    return data


@config.command(
    "view",
    epilog=examples(
        "# The kubeconfig with tokens redacted",
        "ac config view",
        "",
        "# With tokens (careful: they are credentials)",
        "ac config view --raw",
    ),
)
@click.option("--raw", is_flag=True, help="Show tokens and certificate data.")
@output_option("yaml", "json")
def view(raw: bool, output: str | None) -> None:
    """Print the kubeconfig; tokens are redacted unless --raw."""
    cfg = state().config()
    data = cfg.data if raw else redacted(cfg.data)
    printers.emit(data, output or "yaml")


@click.command(
    epilog=examples(
        "# Show the current namespace",
        "ac namespace",
        "",
        "# Make my-ns the default for commands that take -n",
        "ac namespace my-ns",
    )
)
@click.argument("name", required=False)
@click.option("-q", "--short", is_flag=True, help="Print only the namespace name.")
def namespace(name: str | None, short: bool) -> None:
    """Show or set the current context's namespace (used when -n is not given)."""
    st = state()
    target = st.target()
    if not name:
        shown = target.namespace or "default"
        if short:
            click.echo(shown)
        else:
            click.echo(f'Using namespace "{shown}" on cluster "{target.cluster}".')
        return
    if not NAMESPACE_RE.fullmatch(name):
        raise UsageError(
            f"{name!r} is not a valid namespace name: use at most 63 lower-case letters, "
            "digits and '-', starting and ending with a letter or digit"
        )
    if target.session is None:
        raise CliError(
            "switching namespaces needs a login session; pass -n NAME to each command instead"
        )
    try:
        target.kubernetes().request("GET", NAMESPACES.path(name=name))
    except HttpError as exc:
        if exc.status == 404:
            raise CliError(
                f"namespace {name!r} does not exist in cluster {target.cluster!r}; "
                "check the name or create it with `ac create namespace`"
            ) from exc
        if exc.status != 403:
            raise
        # May not read the namespace object, but may well hold bindings inside it.
    cfg = st.config()
    current = cfg.resolve(st.context_flag or None)
    assert current is not None
    cfg.set_namespace(current.context, name)
    cfg.save()
    click.echo(f'Now using namespace "{name}" on cluster "{target.cluster}".')
