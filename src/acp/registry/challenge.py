"""How the registry refuses: the Docker token protocol's `WWW-Authenticate` challenge.

- no credentials: 401 with `Bearer realm=…,service=…,scope=…`, so that the client fetches a
  token (with the user's credentials, or anonymously) and tries again;
- a registry token that does not cover the request: 401 with `error="insufficient_scope"`;
- other credentials (Basic, session or ServiceAccount token) without the permission:
  403 DENIED.

The answer depends only on the caller and the repository name, never on whether the
repository or its content exists, so a refusal reveals nothing.
"""

from __future__ import annotations

from acp.auth.identity import Identity
from acp.registry import errors
from acp.registry.access import Need

CATALOG_SCOPE = "registry:catalog:*"


def repository_scope(need: Need) -> str:
    # Clients ask for pull together with push (a push starts with existence checks).
    actions = "pull,push" if need.action == "push" else need.action
    return f"repository:{need.repository.path}:{actions}"


def quoted(value: str) -> str:
    """An HTTP quoted-string: backslashes and quotes escaped, control characters dropped."""
    printable = "".join(c for c in value if c == "\t" or (c >= " " and c != "\x7f"))
    return '"' + printable.replace("\\", "\\\\").replace('"', '\\"') + '"'


def bearer(realm: str, service: str, scope: str | None = None, error: str | None = None) -> str:
    parts = [f"realm={quoted(realm)}", f"service={quoted(service)}"]
    if scope:
        parts.append(f"scope={quoted(scope)}")
    if error:
        parts.append(f"error={quoted(error)}")
    return "Bearer " + ",".join(parts)


def refusal(
    identity: Identity, realm: str, service: str, scope: str | None, detail: object = None
) -> errors.RegistryError:
    if identity.via == "anonymous":
        return errors.RegistryError(
            401,
            errors.UNAUTHORIZED,
            "authentication required",
            detail,
            headers={"WWW-Authenticate": bearer(realm, service, scope)},
        )
    if identity.via == "registry-token":
        return errors.RegistryError(
            401,
            errors.UNAUTHORIZED,
            "the token does not grant access to this resource; "
            "the account may lack the permission for it",
            detail,
            headers={"WWW-Authenticate": bearer(realm, service, scope, "insufficient_scope")},
        )
    return errors.RegistryError(403, errors.DENIED, "requested access to the resource is denied")


def access_detail(need: Need) -> list[dict[str, str]]:
    return [{"Type": "repository", "Name": need.repository.path, "Action": need.action}]
