"""`ac login` and `ac logout`."""

from __future__ import annotations

import base64
import contextlib
import re
import sys
from pathlib import Path
from urllib.parse import urlsplit

import click

from acp.cli.commands.common import examples, state
from acp.cli.errors import CliError, UsageError
from acp.cli.http import Api, HttpError, url_problem, verification
from acp.cli.kubeconfig import SESSION_NAME_RE, ClusterInfo, Session, context_name


def platform_url(value: str) -> str:
    """Normalise what users type: a bare host means https, like `oc login`."""
    value = value.strip()
    if not value.rstrip("/"):
        raise UsageError("the platform URL is empty")
    if "://" not in value:
        value = f"https://{value}"
    problem = url_problem(value)
    if problem:
        raise UsageError(f"the platform URL {value!r} {problem}")
    return value.rstrip("/")


def default_session_name(url: str) -> str:
    """`https://acp.example.com` → `acp.example.com`; `http://127.0.0.1:5000` → `127.0.0.1-5000`."""
    netloc = urlsplit(url).netloc.split("@")[-1].lower()
    name = re.sub(r"[^a-z0-9._-]+", "-", netloc).strip("-._")
    return name[:63].strip("-._") or "acp"


def _ask(
    label: str, flag: str, variable: str, *, hide: bool = False, default: str | None = None
) -> str:
    """Prompt for a missing value; without a terminal, read it from standard input (nothing
    to hide there, and no warning about echo), and say how to pass it when there is none."""
    terminal = sys.stdin.isatty()
    try:
        return str(click.prompt(label, default=default, hide_input=hide and terminal))
    except click.exceptions.Abort:
        if terminal:
            raise
        raise UsageError(
            f"no {label.lower()} given and no terminal to ask on: pass {flag} or set {variable}"
        ) from None


@click.command(
    epilog=examples(
        "# Log in; prompts for the user name and (hidden) password",
        "ac login https://acp.example.com",
        "",
        "# Non-interactive, as a named session next to others",
        'ac login https://acp.example.com --name prod -u alice -p "$PASSWORD"',
        "",
        "# From the environment (CI)",
        "AC_LOGIN_PLATFORM_URL=https://acp.example.com AC_LOGIN_USERNAME=ci \\",
        "  AC_LOGIN_PASSWORD=… ac login",
    )
)
@click.argument("url", required=False, envvar="AC_LOGIN_PLATFORM_URL")
@click.option(
    "--name",
    "session_name",
    envvar="AC_LOGIN_SESSION",
    default="",
    help="Session name (default: the platform's host name).",
)
@click.option("-u", "--username", envvar="AC_LOGIN_USERNAME", default="", help="User name.")
@click.option(
    "-p",
    "--password",
    envvar="AC_LOGIN_PASSWORD",
    default="",
    help="Password (prompted, hidden, when not given).",
)
@click.option("--cluster", "cluster", default="", help="Cluster to make current after login.")
@click.option(
    "--certificate-authority",
    "ca_file",
    default="",
    metavar="FILE",
    help="PEM file of the CA that signed the platform's TLS certificate.",
)
@click.option(
    "--insecure-skip-tls-verify",
    "insecure",
    is_flag=True,
    help="Do not verify the platform's TLS certificate (testing only).",
)
def login(
    url: str | None,
    session_name: str,
    username: str,
    password: str,
    cluster: str,
    ca_file: str,
    insecure: bool,
) -> None:
    """Log in to the platform and write a kubeconfig context for each of its clusters.

    The kubeconfig is $KUBECONFIG (its first file) or ~/.kube/config, written with mode
    0600. Contexts are named <session>/<cluster>; kubectl can use them too.
    """
    st = state()
    config = st.config()
    current = config.resolve()
    if not url:
        suggested = current.session.platform_url if current else None
        url = _ask("Platform URL", "the URL argument", "AC_LOGIN_PLATFORM_URL", default=suggested)
    url = platform_url(str(url))
    name = session_name or default_session_name(url)
    if not SESSION_NAME_RE.fullmatch(name):
        raise UsageError(
            f"session name {name!r} is invalid: use letters, digits, '.', '_' and '-' only"
        )
    previous = config.session(name)
    if not username:
        suggested = previous.username if previous and previous.platform_url == url else None
        username = _ask("Username", "-u", "AC_LOGIN_USERNAME", default=suggested)
    if not password:
        password = _ask("Password", "-p", "AC_LOGIN_PASSWORD", hide=True)

    ca_data = ""
    if ca_file and not insecure:
        try:
            pem = Path(ca_file).read_text()
        except OSError as exc:
            raise CliError(f"cannot read the CA file {ca_file}: {exc.strerror}") from exc
        ca_data = base64.b64encode(pem.encode()).decode()
    elif not insecure and previous is not None and previous.platform_url == url:
        insecure = previous.insecure_skip_tls_verify
        ca_data = previous.certificate_authority_data
    verify = verification(insecure, ca_data)

    anonymous = Api(url, verify=verify, what="the platform API")
    try:
        response = anonymous.request(
            "POST", "/api/v1/login", json_body={"username": username, "password": password}
        )
    except HttpError as exc:
        if exc.status == 401:
            raise CliError(
                f"login to {url} failed: invalid username or password; check them and try again"
            ) from exc
        raise
    body = response.json()
    token = str(body["token"])
    api = Api(url, token=token, verify=verify, what="the platform API")
    clusters = [ClusterInfo.from_api(item) for item in api.get("/api/v1/clusters")["items"]]
    if not clusters:
        raise CliError(f"{url} lists no clusters; ask the platform administrator")

    session = Session(
        name=name,
        platform_url=url,
        username=str(body.get("user", {}).get("username", username)),
        token=token,
        expires_at=str(body.get("expiresAt", "")),
        clusters=clusters,
        current_cluster=previous.current_cluster if previous else "",
        certificate_authority_data=ca_data,
        insecure_skip_tls_verify=insecure,
    )
    if cluster:
        if session.cluster(cluster) is None:
            names = ", ".join(c.name for c in clusters)
            raise CliError(f"the platform has no cluster {cluster!r}; it has: {names}")
        session.current_cluster = cluster
    chosen = session.default_cluster()
    assert chosen is not None
    session.current_cluster = chosen.name
    config.put_session(session)
    config.use(name, chosen.name)
    config.save()

    if previous is not None and previous.token and previous.token != token:
        # The replaced token should not stay valid until it expires.
        old = Api(previous.platform_url, token=previous.token, verify=verify)
        with contextlib.suppress(CliError):
            old.request("POST", "/api/v1/logout")

    others = [c.name for c in clusters if c.name != chosen.name]
    listing = ", ".join([f"{chosen.name} (current)", *others])
    click.echo(f'Logged in to {url} as {session.username} (session "{name}").')
    click.echo(f"Clusters: {listing}")
    click.echo(
        f"Current context: {context_name(name, chosen.name)}; switch clusters with "
        "`ac config use-cluster NAME`."
    )
    if url.startswith("http://"):
        # kubectl (client-go) drops credentials for plain-HTTP servers.
        click.echo(
            "note: kubectl sends credentials only to https:// servers; to use kubectl with "
            "this kubeconfig, serve HTTPS (acp-server --tls=self-signed) and log in again.",
            err=True,
        )


@click.command(
    epilog=examples(
        "# End the current session",
        "ac logout",
        "",
        "# End another session",
        "ac logout --name prod",
    )
)
@click.option("--name", "session_name", default="", help="Session to end (default: the current).")
def logout(session_name: str) -> None:
    """Revoke the session's token on the server and remove its kubeconfig entries."""
    st = state()
    config = st.config()
    if not session_name:
        current = config.resolve(st.context_flag or None)
        if current is None:
            raise CliError(
                "there is no current session; name one with --name (see `ac config get-sessions`)"
            )
        session_name = current.session.name
    session = config.session(session_name)
    if session is None:
        raise CliError(
            f"there is no session {session_name!r}; run `ac config get-sessions` to see them"
        )
    problem = ""
    verify = verification(session.insecure_skip_tls_verify, session.certificate_authority_data)
    api = Api(session.platform_url, token=session.token, verify=verify, what="the platform API")
    try:
        api.request("POST", "/api/v1/logout", allow=(401,))
    except CliError as exc:
        problem = exc.message
    config.remove_session(session_name)
    config.save()
    if problem:
        raise CliError(
            f"removed session {session_name!r} locally, but could not revoke its token: {problem}"
        )
    click.echo(f'Logged out of session "{session_name}" ({session.platform_url}).')
