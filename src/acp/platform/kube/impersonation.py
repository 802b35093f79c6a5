"""`Impersonate-User`, `Impersonate-Group`, `Impersonate-Uid` and `Impersonate-Extra-*` headers
(`kubectl --as=alice --as-group=dev`), allowed by the `impersonate` verb as in Kubernetes."""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import unquote

from aiohttp import web

from acp.auth.identity import (
    ANONYMOUS_USER,
    AUTHENTICATED,
    SA_PREFIX,
    SERVICE_ACCOUNTS,
    UNAUTHENTICATED,
    Identity,
)
from acp.platform.kube import errors
from acp.platform.kube.errors import Qualified
from acp.rbac.attributes import Attributes
from acp.server.context import AppContext

USER = "Impersonate-User"
GROUP = "Impersonate-Group"
UID = "Impersonate-Uid"
EXTRA_PREFIX = "impersonate-extra-"
AUTHENTICATION_GROUP = "authentication.k8s.io"


def requested(request: web.Request) -> bool:
    return any(
        key.lower() in (USER.lower(), GROUP.lower(), UID.lower())
        or key.lower().startswith(EXTRA_PREFIX)
        for key in request.headers
    )


def _split_service_account(username: str) -> tuple[str, str] | None:
    if not username.startswith(SA_PREFIX):
        return None
    namespace, sep, name = username[len(SA_PREFIX) :].partition(":")
    if not sep or not namespace or not name or ":" in name:
        return None
    return namespace, name


async def impersonate(
    request: web.Request, ctx: AppContext, actor: Identity, cluster: str
) -> Identity:
    """The identity the request acts as; 403 unless `actor` may impersonate every part."""
    username = request.headers.get(USER, "")
    groups = request.headers.getall(GROUP, [])
    uid = request.headers.get(UID, "")
    extra: dict[str, tuple[str, ...]] = {}
    for key in request.headers:
        if key.lower().startswith(EXTRA_PREFIX):
            extra_key = unquote(key[len(EXTRA_PREFIX) :]).lower()
            extra[extra_key] = tuple(request.headers.getall(key))
    if not username:
        raise errors.bad_request(
            "requested impersonation of groups, uid or extra without impersonating a user"
        )

    checks: list[tuple[Attributes, Qualified]] = []
    sa = _split_service_account(username)
    if sa is not None:
        checks.append(
            (
                Attributes("impersonate", "serviceaccounts", namespace=sa[0], name=sa[1]),
                Qualified("", "serviceaccounts", sa[1]),
            )
        )
    else:
        checks.append(
            (Attributes("impersonate", "users", name=username), Qualified("", "users", username))
        )
    for group in groups:
        checks.append(
            (Attributes("impersonate", "groups", name=group), Qualified("", "groups", group))
        )
    if uid:
        checks.append(
            (
                Attributes("impersonate", "uids", api_group=AUTHENTICATION_GROUP, name=uid),
                Qualified(AUTHENTICATION_GROUP, "uids", uid),
            )
        )
    for key, values in extra.items():
        for value in values:
            checks.append(
                (
                    Attributes(
                        "impersonate",
                        "userextras",
                        subresource=key,
                        api_group=AUTHENTICATION_GROUP,
                        name=value,
                    ),
                    Qualified(AUTHENTICATION_GROUP, f"userextras/{key}", value),
                )
            )
    for attrs, what in checks:
        if not await ctx.authorizer.allowed(actor, attrs, cluster):
            raise errors.forbidden(what, errors.forbidden_reason(actor.username, attrs))

    if sa is not None and not groups:
        groups = [SERVICE_ACCOUNTS, f"{SERVICE_ACCOUNTS}:{sa[0]}"]
    if username == ANONYMOUS_USER:
        if UNAUTHENTICATED not in groups:
            groups = [*groups, UNAUTHENTICATED]
    elif AUTHENTICATED not in groups and UNAUTHENTICATED not in groups:
        groups = [*groups, AUTHENTICATED]
    kind = "serviceaccount" if sa else ("anonymous" if username == ANONYMOUS_USER else "user")
    return replace(
        Identity(
            username=username,
            groups=tuple(dict.fromkeys(groups)),
            uid=uid,
            kind=kind,
            via="impersonation",
            cluster=cluster if sa else None,
        ),
        extra=extra,
    )
