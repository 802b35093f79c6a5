"""`ac registry info` and `ac registry login`: where the registry is, and credentials for OCI
clients (podman, skopeo, docker, nerdctl, oras) in a Docker `config.json`."""

from __future__ import annotations

import base64
import contextlib
import json
import os
from pathlib import Path
from typing import Any

import click

from acp.cli import printers
from acp.cli.commands.common import examples, output_option, state
from acp.cli.commands.images import API, registry_url_option
from acp.cli.errors import CliError
from acp.cli.http import Api, HttpError
from acp.cli.target import Target, registry_api_url

# Any user name goes with a ServiceAccount token; this one says what it is.
SERVICEACCOUNT_LOGIN_NAME = "serviceaccount"


@click.group(epilog=examples("ac registry info --check", "ac registry login"))
def registry() -> None:
    """Registry addresses and OCI client credentials."""


def registry_details(target: Target, flag: str) -> dict[str, str]:
    """Registry host (for OCI clients), registry URL and API URL of the current cluster."""
    url, source = registry_api_url(flag, state())
    details = {
        "cluster": target.cluster,
        "registryHost": "",
        "registryUrl": "",
        "registryApiUrl": url,
        "registryApiUrlSource": source,
    }
    advertised = target.advertised() if source in ("the login session", "the platform") else None
    if advertised is not None:
        details["registryHost"] = advertised.registry_host
        details["registryUrl"] = advertised.registry_url
    return details


def fill_from_server(details: dict[str, str], api: Api) -> None:
    """Ask the registry API which cluster and host it serves (for --registry-url)."""
    info = api.get(f"{API}/info")
    details["cluster"] = str(info.get("cluster", details["cluster"]))
    details["registryHost"] = str(info.get("registryHost", ""))
    details["registryUrl"] = str(info.get("registryUrl", ""))


def _check(label: str, call: Any) -> tuple[str, str, bool]:
    try:
        return label, call() or "ok", True
    except CliError as exc:
        return label, exc.message, False


@registry.command(
    "info",
    epilog=examples(
        "# Addresses of the current cluster's registry",
        "ac registry info",
        "",
        "# Also check that the registry and its API answer and accept your credentials",
        "ac registry info --check --registry-url=https://registry-api.example.com",
    ),
)
@registry_url_option
@click.option("--check", is_flag=True, help="Contact the registry and its API, and report.")
@output_option("yaml", "json")
def info(registry_url: str, check: bool, output: str | None) -> None:
    """Show the registry host for OCI clients and the registry API URL `ac` uses."""
    target = state().target()
    details = registry_details(target, registry_url)
    api = target.registry_api(details["registryApiUrl"])
    checks: list[tuple[str, str, bool]] = []
    if check or not details["registryHost"]:
        label = f"registry API at {details['registryApiUrl']}"
        checks.append(_check(label, lambda: fill_from_server(details, api)))
    if check:
        checks.append(
            _check(
                "your credentials",
                lambda: api.get(f"{API}/images", params={"limit": 1}) and "accepted",
            )
        )
        if details["registryUrl"]:
            oci = Api(details["registryUrl"], verify=target.verify, what="the OCI registry")
            checks.append(_check(f"OCI endpoint {details['registryUrl']}/v2/", lambda: _ping(oci)))
    if output:
        data: dict[str, Any] = {
            **details,
            "identity": target.username,
            "credentials": target.described,
        }
        if check:
            data["checks"] = [{"check": c, "result": r, "ok": ok} for c, r, ok in checks]
        printers.emit(data, output)
    else:
        rows = [
            ["Cluster", details["cluster"]],
            ["Registry host (OCI clients)", details["registryHost"] or "<unknown>"],
            [
                "Registry API URL",
                f"{details['registryApiUrl']}  (from {details['registryApiUrlSource']})",
            ],
            ["Credentials", f"{target.described} ({target.username})"],
        ]
        click.echo(printers.pairs(rows))
        if check:
            click.echo()
            click.echo(
                printers.table(
                    ["CHECK", "RESULT"], [[c, r if ok else f"FAILED: {r}"] for c, r, ok in checks]
                )
            )
    failed = [c for c, _, ok in checks if not ok]
    if check and failed:
        raise CliError(f"registry check failed: {failed[0]}; see the table above")


def _ping(oci: Api) -> str:
    # 401 with a challenge is a healthy registry that wants a token.
    response = oci.request("GET", "/v2/", allow=(401,))
    if response.status_code == 401 and "www-authenticate" not in response.headers:
        raise CliError("no registry challenge")
    if response.status_code == 401:
        return "ok (HTTP 401: asks clients for a token, as expected)"
    return f"ok (HTTP {response.status_code})"


def docker_config_path() -> Path:
    env = state().env
    directory = env.get("DOCKER_CONFIG") or str(Path(env.get("HOME") or Path.home()) / ".docker")
    return Path(directory) / "config.json"


def write_auth(path: Path, host: str, username: str, secret: str) -> list[str]:
    """Merge one `auths` entry into a Docker config file (mode 0600). Returns warnings."""
    data: dict[str, Any] = {}
    try:
        data = json.loads(path.read_text() or "{}")
    except FileNotFoundError:
        pass
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot use {path}: it is not a readable JSON file ({exc})") from exc
    if not isinstance(data, dict):
        raise CliError(f"cannot use {path}: it is not a Docker config.json")
    auths = data.setdefault("auths", {})
    auths[host] = {"auth": base64.b64encode(f"{username}:{secret}".encode()).decode()}
    warnings = []
    if data.get("credsStore") or host in (data.get("credHelpers") or {}):
        warnings.append(
            f"{path} names a credential helper, which Docker may ask instead of this entry"
        )
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent="\t")
            handle.write("\n")
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise CliError(f"cannot write {path}: {exc.strerror}") from exc
    return warnings


@registry.command(
    "login",
    epilog=examples(
        "# Credentials for the current cluster's registry in ~/.docker/config.json",
        "ac registry login",
        "",
        "# For podman/skopeo/buildah in their own auth file",
        'ac registry login --to "${XDG_RUNTIME_DIR}/containers/auth.json"',
        "",
        "# A registry host of your choice",
        "ac registry login --registry registry.example.com:5000",
    ),
)
@click.option(
    "--registry",
    "host",
    default="",
    metavar="HOST[:PORT]",
    help="Registry host (default: the current cluster's).",
)
@click.option(
    "--to",
    "to",
    default="",
    metavar="FILE",
    help="Docker config file (default: $DOCKER_CONFIG/config.json or ~/.docker/config.json).",
)
@registry_url_option
def login(host: str, to: str, registry_url: str) -> None:
    """Write your registry credentials to a Docker config.json for OCI clients.

    The entry holds your session token (or the Pod's ServiceAccount token), so it is valid
    as long as that token is; run this again after `ac login`.
    """
    target = state().target()
    if not host:
        details = registry_details(target, registry_url)
        if not details["registryHost"]:
            try:
                fill_from_server(details, target.registry_api(details["registryApiUrl"]))
            except HttpError as exc:
                raise CliError(f"{exc.message}; name the registry with --registry HOST") from exc
        host = details["registryHost"]
    if "://" in host or "/" in host:
        raise CliError(f"--registry {host!r} must be a HOST[:PORT], without scheme or path")
    username = target.session.username if target.session else SERVICEACCOUNT_LOGIN_NAME
    path = Path(to).expanduser() if to else docker_config_path()
    for warning in write_auth(path, host, username, target.token):
        click.echo(f"warning: {warning}", err=True)
    expiry = (
        f", valid until {target.session.expires_at}"
        if target.session and target.session.expires_at
        else ""
    )
    click.echo(f"Wrote credentials for {host} to {path} (user {username}{expiry}).")
