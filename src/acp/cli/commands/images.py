"""`ac get images` and `ac delete images`: the registry metadata API."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import click

from acp.cli import printers
from acp.cli.commands.common import (
    NAMESPACE_RE,
    all_namespaces_option,
    examples,
    output_option,
    state,
)
from acp.cli.errors import CliError, UsageError
from acp.cli.http import Api, HttpError
from acp.cli.target import registry_api_url

F = TypeVar("F", bound=Callable[..., Any])

API = "/api/registry/v1"
PAGE_SIZE = 1000
LIST_API_VERSION = "registry.acp.io/v1"

# The same grammar the server enforces (OCI distribution-spec names, Kubernetes namespaces).
_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
REPOSITORY_RE = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
DIGEST_RE = re.compile(r"sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128}")

EXAMPLE_REFERENCE = "my-ns/my-app:v1"


def registry_url_option(func: F) -> F:
    return click.option(
        "--registry-url",
        "registry_url",
        default="",
        metavar="URL",
        help="Registry API URL (default: $AC_REGISTRY_URL, else the URL the platform "
        "advertised for the current cluster, else the in-cluster registry).",
    )(func)


def registry_api(flag: str) -> Api:
    url, _source = registry_api_url(flag, state())
    return state().target().registry_api(url)


def explain(exc: HttpError, namespace: str) -> CliError:
    """What to do next after a refusal of the registry API."""
    message = exc.message.rstrip(".")
    if exc.status == 403:
        return CliError(f"{message}; ask an administrator of that namespace to bind it to you")
    if exc.reason == "NAMESPACE_NOT_FOUND":
        return CliError(f"{message}; check the name (`ac get images` lists what you can see)")
    if exc.status == 404 and exc.reason == "NOT_FOUND":
        return CliError(f"{message}; `ac get images -n {namespace}` lists its images")
    return exc


# --- ac get images ---------------------------------------------------------------------------


def fetch_images(api: Api, namespace: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Every image, page by page: (items, metadata of the last page)."""
    params: dict[str, str | int] = {"limit": PAGE_SIZE}
    if namespace:
        params["namespace"] = namespace
    items: list[dict[str, Any]] = []
    while True:
        try:
            body = api.get(f"{API}/images", params=params)
        except HttpError as exc:
            raise explain(exc, namespace) from exc
        items.extend(body.get("items") or ())
        metadata = body.get("metadata") or {}
        if not metadata.get("continue"):
            return items, metadata
        params["continue"] = metadata["continue"]


def image_name(item: dict[str, Any]) -> str:
    return f"{item['namespace']}/{item['repository']}:{item['tag']}"


def images_table(
    items: list[dict[str, Any]], *, wide: bool, with_namespace: bool, registry_host: str
) -> str:
    headers = ["REPOSITORY", "TAG", "DIGEST", "SIZE", "AGE"]
    if with_namespace:
        headers.insert(0, "NAMESPACE")
    if wide:
        headers += ["PLATFORMS", "MEDIA TYPE", "IMAGE"]
    rows = []
    for item in items:
        digest = str(item.get("digest", ""))
        row = [
            str(item.get("repository", "")),
            str(item.get("tag", "")),
            digest if wide else printers.short_digest(digest),
            printers.human_size(int(item.get("size") or 0)),
            # The tag's age: a tag moved to an older digest is as young as the move.
            printers.age(str(item.get("tagged") or item.get("created", ""))),
        ]
        if with_namespace:
            row.insert(0, str(item.get("namespace", "")))
        if wide:
            pull = f"{registry_host}/{image_name(item)}" if registry_host else image_name(item)
            row += [
                ",".join(item.get("platforms") or ()) or "-",
                str(item.get("mediaType", "")),
                pull,
            ]
        rows.append(row)
    return printers.table(headers, rows)


@click.command(
    "images",
    epilog=examples(
        "# Images in every namespace you may pull from",
        "ac get images --registry-url=https://registry-api.example.com",
        "",
        "# One namespace",
        "ac get images -n my-ns --registry-url=https://registry-api.example.com",
        "",
        "# For scripts: YAML, JSON, or one NS/NAME:TAG per line",
        "ac get images -o yaml",
        "ac get images -n my-ns -o name",
        "",
        "# Full digests, platforms and pull references",
        "ac get images -o wide",
    ),
)
@click.option(
    "-n", "--namespace", "namespace", default="", metavar="NS", help="Only this namespace."
)
@all_namespaces_option
@output_option("table", "wide", "yaml", "json", "name")
@registry_url_option
def get_images(namespace: str, all_namespaces: bool, output: str | None, registry_url: str) -> None:
    """List image tags with their digest, size, age and platforms.

    Without -n: every namespace you may pull from (the same as -A).
    """
    if namespace and all_namespaces:
        raise UsageError("-n and -A exclude each other; give one of them")
    if namespace and not NAMESPACE_RE.fullmatch(namespace):
        raise UsageError(f"{namespace!r} is not a valid namespace name")
    api = registry_api(registry_url)
    items, metadata = fetch_images(api, namespace)
    output = output or "table"
    if output in ("json", "yaml"):
        printers.emit(
            {
                "apiVersion": LIST_API_VERSION,
                "kind": "List",
                "metadata": {
                    "cluster": metadata.get("cluster", ""),
                    "registryHost": metadata.get("registryHost", ""),
                },
                "items": items,
            },
            output,
        )
        return
    if output == "name":
        for item in items:
            click.echo(image_name(item))
        return
    if not items:
        where = f"in namespace {namespace}" if namespace else "in the namespaces you may access"
        click.echo(f"No images found {where}.", err=True)
        return
    click.echo(
        images_table(
            items,
            wide=output == "wide",
            with_namespace=not namespace,
            registry_host=str(metadata.get("registryHost", "")),
        )
    )


# --- ac delete images ------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageReference:
    namespace: str
    name: str  # repository path inside the namespace
    tag: str = ""
    digest: str = ""

    def __str__(self) -> str:
        ref = f"@{self.digest}" if self.digest else f":{self.tag}"
        return f"{self.namespace}/{self.name}{ref}"

    @property
    def path(self) -> str:
        base = f"{API}/namespaces/{self.namespace}/repositories/{self.name}"
        return f"{base}/manifests/{self.digest}" if self.digest else f"{base}/tags/{self.tag}"


def parse_reference(value: str) -> ImageReference:
    """`NS/NAME:TAG` or `NS/NAME@DIGEST`; anything else is a usage error."""

    def bad(why: str) -> UsageError:
        return UsageError(
            f"--repo {value!r} is malformed ({why}); write NS/NAME:TAG or "
            f"NS/NAME@sha256:DIGEST, for example {EXAMPLE_REFERENCE}"
        )

    path, at, digest = value.partition("@")
    tag = ""
    if not at:
        last_slash = path.rfind("/")
        colon = path.rfind(":")
        if colon <= last_slash:
            raise bad("no :TAG or @DIGEST")
        path, tag = path[:colon], path[colon + 1 :]
    namespace, slash, name = path.partition("/")
    if not slash or not name:
        raise bad("no namespace: the repository must be NS/NAME")
    if not NAMESPACE_RE.fullmatch(namespace):
        raise bad(f"{namespace!r} is not a valid namespace name")
    if not REPOSITORY_RE.fullmatch(name):
        raise bad(f"{name!r} is not a valid repository name")
    if at and not DIGEST_RE.fullmatch(digest):
        raise bad(
            f"{digest!r} is not a digest like sha256:<64 hex digits>; "
            "`ac get images -o wide` shows whole digests"
        )
    if not at and not TAG_RE.fullmatch(tag):
        raise bad(f"{tag!r} is not a valid tag")
    return ImageReference(namespace, name, tag, digest)


def describe(ref: ImageReference, result: dict[str, Any], done: bool) -> str:
    if ref.digest:
        verb = "deleted" if done else "would be deleted"
        tags = result.get("deletedTags") or []
        went = f"with its tags: {', '.join(tags)}" if tags else "it has no tags"
        return f"manifest {ref} {verb}, {went}"
    verb = "deleted" if done else "would be deleted"
    kept = result.get("remainingTags") or []
    stays = (
        f"other tags on that digest stay: {', '.join(kept)}"
        if kept
        else "no other tag points at that digest"
    )
    return f"tag {ref} {verb} (digest {result.get('digest', '')}); {stays}"


@click.command(
    "images",
    epilog=examples(
        "# Preview: says what would go and which tags sharing the digest stay",
        "ac delete images --repo=my-ns/my-app:v1 --registry-url=https://registry-api.example.com",
        "",
        "# Delete the tag (other tags of the same digest stay)",
        "ac delete images --repo=my-ns/my-app:v1 \\",
        "  --registry-url=https://registry-api.example.com --confirm",
        "",
        "# Delete a manifest by digest, with every tag pointing at it",
        "ac delete images --repo=my-ns/my-app@sha256:4f1c… --confirm",
        "",
        "# Several at once",
        "ac delete images --repo=my-ns/a:v1 --repo=my-ns/b:v2 --confirm",
    ),
)
@click.option(
    "--repo",
    "repos",
    multiple=True,
    required=True,
    metavar="NS/NAME:TAG|NS/NAME@DIGEST",
    help="What to delete (repeatable).",
)
@registry_url_option
@click.option("--confirm", is_flag=True, help="Delete; without it, only preview.")
@output_option("json", "yaml")
def delete_images(
    repos: tuple[str, ...], registry_url: str, confirm: bool, output: str | None
) -> None:
    """Delete image tags (or manifests by digest). Without --confirm, only preview.

    Deleting a tag removes that tag only; other tags on the same digest stay. Deleting
    NS/NAME@DIGEST removes the manifest and every tag pointing at it. Layer data stays
    in the blob store until an operator runs `acp-admin gc` (`--untagged` for manifests
    whose tags were all deleted).
    """
    references = list(dict.fromkeys(parse_reference(value) for value in repos))
    # Tags first: a digest deleted earlier would take them along and fail the rest.
    references.sort(key=lambda ref: bool(ref.digest))
    api = registry_api(registry_url)

    # Check everything first, so an error leaves every image in place.
    previews = []
    for ref in references:
        try:
            previews.append(api.request("DELETE", ref.path, params={"dryRun": "true"}).json())
        except HttpError as exc:
            raise explain(exc, ref.namespace) from exc
    results = previews
    if confirm:
        results = []
        for ref in references:
            try:
                results.append(api.request("DELETE", ref.path).json())
            except HttpError as exc:
                done = "; ".join(
                    describe(r, res, True) for r, res in zip(references, results, strict=False)
                )
                failed = explain(exc, ref.namespace).message
                raise CliError(f"{failed} (already done: {done})" if done else failed) from exc
    if output:
        printers.emit({"apiVersion": LIST_API_VERSION, "kind": "List", "items": results}, output)
    else:
        for ref, result in zip(references, results, strict=True):
            click.echo(describe(ref, result, confirm))
    if not confirm:
        click.echo("Nothing was deleted: run the same command with --confirm to delete.", err=True)
