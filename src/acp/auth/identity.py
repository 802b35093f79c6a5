"""Who is calling: the one identity type every part of the server works with."""

from __future__ import annotations

from dataclasses import dataclass, field

AUTHENTICATED = "system:authenticated"
UNAUTHENTICATED = "system:unauthenticated"
SERVICE_ACCOUNTS = "system:serviceaccounts"
ANONYMOUS_USER = "system:anonymous"
SA_PREFIX = "system:serviceaccount:"


@dataclass(frozen=True)
class RegistryAccess:
    """One grant of a registry token: `repository:my-ns/app:pull,push`."""

    type: str
    name: str
    actions: frozenset[str]


@dataclass(frozen=True)
class Identity:
    # Kubernetes user name: "alice", "system:serviceaccount:my-ns:builder", "system:anonymous".
    username: str
    groups: tuple[str, ...]
    uid: str = ""
    # "user", "serviceaccount" or "anonymous"
    kind: str = "user"
    # How the caller proved it: "password", "session", "serviceaccount-token",
    # "registry-token" or "anonymous".
    via: str = "anonymous"
    # The platform session behind a session token or a registry token minted from one.
    session_id: int | None = None
    # ServiceAccount identities belong to one cluster.
    cluster: str | None = None
    # A registry token limits what may be done to what it lists (None: no such limit).
    token_access: frozenset[RegistryAccess] | None = None
    extra: dict[str, tuple[str, ...]] = field(default_factory=dict, compare=False, hash=False)

    @property
    def is_anonymous(self) -> bool:
        return self.kind == "anonymous"

    @property
    def is_service_account(self) -> bool:
        return self.kind == "serviceaccount"

    def service_account(self) -> tuple[str, str] | None:
        """(namespace, name) of a ServiceAccount identity."""
        if not self.username.startswith(SA_PREFIX):
            return None
        namespace, _, name = self.username[len(SA_PREFIX) :].partition(":")
        return namespace, name

    def token_allows(self, repository: str, action: str) -> bool:
        if self.token_access is None:
            return True
        return any(
            a.type == "repository" and a.name == repository and action in a.actions
            for a in self.token_access
        )


ANONYMOUS = Identity(
    username=ANONYMOUS_USER, groups=(UNAUTHENTICATED,), kind="anonymous", via="anonymous"
)


def user_identity(
    username: str,
    uid: str,
    groups: list[str] | tuple[str, ...],
    via: str,
    session_id: int | None = None,
) -> Identity:
    return Identity(
        username=username,
        groups=(*dict.fromkeys([*groups, AUTHENTICATED]),),
        uid=uid,
        kind="user",
        via=via,
        session_id=session_id,
    )


def service_account_identity(
    cluster: str, namespace: str, name: str, uid: str, via: str = "serviceaccount-token"
) -> Identity:
    return Identity(
        username=f"{SA_PREFIX}{namespace}:{name}",
        groups=(SERVICE_ACCOUNTS, f"{SERVICE_ACCOUNTS}:{namespace}", AUTHENTICATED),
        uid=uid,
        kind="serviceaccount",
        via=via,
        cluster=cluster,
    )
