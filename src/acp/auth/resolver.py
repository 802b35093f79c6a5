"""Turn an `Authorization` header into an Identity, the same way on every surface.

Accepted credentials (SPEC §3.4):
- none: the anonymous identity (it can do only what `system:unauthenticated` is granted);
- `Bearer <session token>` or Basic `user:<session token>`;
- `Bearer <ServiceAccount token>` or Basic `<anything>:<ServiceAccount token>`;
- `Bearer <registry token>` (from the token endpoint; carries its own access list);
- Basic `user:password` (throttled; verified results cached briefly).

Every cached result dies as soon as the user, session or ServiceAccount behind it changes
(generation keys), so a revoked session or deleted ServiceAccount is refused at once.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from acp.auth import accounts, verified
from acp.auth.accounts import SESSION_TOKEN_PREFIX, User
from acp.auth.identity import (
    ANONYMOUS,
    Identity,
    RegistryAccess,
    service_account_identity,
    user_identity,
)
from acp.auth.keys import InvalidToken, KeyRing, new_jti
from acp.auth.passwords import verify_password
from acp.auth.throttle import LoginThrottle
from acp.db import objects
from acp.db.engine import Database
from acp.db.generations import GenerationCache, Generations

REGISTRY_ISSUER = "acp-registry"
PASSWORD_CACHE_SECONDS = 60
SA_TOKEN_DEFAULT_SECONDS = 3600
SA_TOKEN_MIN_SECONDS = 600
SA_TOKEN_MAX_SECONDS = 366 * 24 * 3600


class Unauthenticated(Exception):
    """The credentials are missing parts, wrong, expired or revoked. The message says which,
    in words safe to show the caller."""


@dataclass(frozen=True)
class _Cached:
    identity: Identity
    expires: float


def _looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2 and token.startswith("ey")


class IdentityResolver:
    def __init__(
        self,
        db: Database,
        generations: Generations,
        keys: KeyRing,
        throttle: LoginThrottle,
        clusters: Mapping[str, int],
        base_url: str,
        session_ttl: timedelta,
    ) -> None:
        self._db = db
        self._keys = keys
        self.throttle = throttle
        self._clusters = clusters
        self._base_url = base_url.rstrip("/")
        self.session_ttl = session_ttl
        self._cache: GenerationCache[_Cached] = GenerationCache(generations, 20_000)
        self._generations = generations
        self._pending: dict[Any, asyncio.Future[Identity]] = {}

    # --- issuers and audiences -------------------------------------------------------------

    def service_account_issuer(self, cluster: str) -> str:
        return f"{self._base_url}/kubernetes/{cluster}"

    # --- the entry point ---------------------------------------------------------------------

    async def resolve(
        self,
        authorization: str | None,
        *,
        address: str = "",
        cluster: str | None = None,
        registry_service: str | None = None,
    ) -> Identity:
        """The caller's identity. `cluster`: the cluster the request is about (ServiceAccount
        and registry tokens of other clusters are refused). `registry_service`: accept
        registry tokens minted for this service."""
        if not authorization:
            return ANONYMOUS
        scheme, _, credentials = authorization.strip().partition(" ")
        credentials = credentials.strip()
        cache_key = (hashlib.sha256(authorization.encode()).digest(), cluster, registry_service)
        cached = self._cache.get(cache_key)
        if cached is not None and cached.expires > time.time():
            return cached.identity
        # Identical credentials arriving together (a client opening many connections) are
        # verified once: one password hash, not one per connection.
        pending = self._pending.get(cache_key)
        if pending is not None:
            return await asyncio.shield(pending)
        task = asyncio.ensure_future(
            self._verify(scheme.lower(), credentials, cache_key, address, cluster, registry_service)
        )
        self._pending[cache_key] = task
        try:
            return await asyncio.shield(task)
        finally:
            if task.done():
                self._pending.pop(cache_key, None)
            else:
                task.add_done_callback(lambda _t: self._pending.pop(cache_key, None))

    async def _verify(
        self,
        scheme: str,
        credentials: str,
        cache_key: Any,
        address: str,
        cluster: str | None,
        registry_service: str | None,
    ) -> Identity:
        if scheme == "bearer" and credentials:
            return await self._bearer(credentials, cache_key, cluster, registry_service)
        if scheme == "basic" and credentials:
            username, password = _decode_basic(credentials)
            return await self._basic(username, password, cache_key, address, cluster)
        raise Unauthenticated("unsupported authorization scheme; use Basic or Bearer")

    async def _bearer(
        self, token: str, cache_key: Any, cluster: str | None, registry_service: str | None
    ) -> Identity:
        if token.startswith(SESSION_TOKEN_PREFIX):
            return await self._session(token, cache_key, username=None)
        if _looks_like_jwt(token):
            return await self._jwt(token, cache_key, cluster, registry_service)
        raise Unauthenticated("the token is not valid")

    async def _basic(
        self, username: str, password: str, cache_key: Any, address: str, cluster: str | None
    ) -> Identity:
        if password.startswith(SESSION_TOKEN_PREFIX):
            return await self._session(password, cache_key, username=username)
        if _looks_like_jwt(password):
            # Any user name with a ServiceAccount token, as OCI clients need one.
            return await self._jwt(password, cache_key, cluster, registry_service=None)
        gen_key = accounts.user_generation_key(username)
        generation = self._cache.generation(gen_key)  # read before the database
        user = None
        if verified.shared().check(username, password, generation):
            # Verified by another worker of this host moments ago: no second hash.
            async with self._db.read() as conn:
                user = await accounts.get_user(conn, username)
            if user is not None and user.disabled:
                user = None
        if user is None:
            user = await self.check_password(username, password, address)
            verified.shared().remember(username, password, generation, PASSWORD_CACHE_SECONDS)
        identity = user_identity(user.username, user.uid, user.groups, "password")
        self._remember(cache_key, gen_key, generation, identity, PASSWORD_CACHE_SECONDS)
        return identity

    # --- passwords ---------------------------------------------------------------------------

    async def check_password(self, username: str, password: str, address: str) -> User:
        """The enabled user with this password. Throttled per user name and address; the
        error never says whether the user exists."""
        had_failures = await self.throttle.check(username, address)
        async with self._db.read() as conn:
            user = await accounts.get_user(conn, username)
        ok = await verify_password(user.password_hash if user else None, password)
        if not ok or user is None or user.disabled:
            await self.throttle.failed(username, address)
            raise Unauthenticated("invalid username or password")
        if had_failures:
            await self.throttle.succeeded(username)
        return user

    # --- sessions ----------------------------------------------------------------------------

    async def _session(self, token: str, cache_key: Any, username: str | None) -> Identity:
        gen_key = accounts.session_generation_key(accounts.hash_token(token))
        generation = self._cache.generation(gen_key)  # read before the database
        async with self._db.read() as conn:
            session = await accounts.find_session(conn, token)
        if session is None:
            raise Unauthenticated("the session token is invalid, expired or revoked; log in again")
        if username is not None and username != session.user.username:
            raise Unauthenticated("the session token belongs to another user")
        identity = user_identity(
            session.user.username, session.user.uid, session.user.groups, "session", session.id
        )
        self._remember(
            cache_key, gen_key, generation, identity, session.expires_at.timestamp() - time.time()
        )
        return identity

    # --- JWTs: ServiceAccount and registry tokens --------------------------------------------

    async def _jwt(
        self, token: str, cache_key: Any, cluster: str | None, registry_service: str | None
    ) -> Identity:
        try:
            claims = self._keys.verify(token, audience=None, issuer=None)
        except InvalidToken as exc:
            raise Unauthenticated("the token is not valid or has expired") from exc
        gen_key = _liveness_key(claims)
        generation = self._cache.generation(gen_key)  # read before the database
        if claims.get("iss") == REGISTRY_ISSUER:
            identity = await self._registry_token(claims, cluster, registry_service)
        else:
            identity = await self._service_account_token(claims, cluster)
        self._remember(cache_key, gen_key, generation, identity, claims["exp"] - time.time())
        return identity

    def _service_account_claims(
        self, claims: dict[str, Any], cluster: str | None
    ) -> tuple[str, str, str, str]:
        """(cluster, namespace, name, uid) named by a ServiceAccount token's claims."""
        info = claims.get("kubernetes.io") or {}
        token_cluster = (claims.get("acp.io") or {}).get("cluster", "")
        namespace = info.get("namespace", "")
        sa = info.get("serviceaccount") or {}
        if token_cluster not in self._clusters or not namespace or not sa.get("name"):
            raise Unauthenticated("the token is not valid")
        if cluster is not None and cluster != token_cluster:
            raise Unauthenticated("the ServiceAccount token belongs to another cluster")
        return token_cluster, namespace, sa["name"], sa.get("uid", "")

    async def _service_account_token(self, claims: dict[str, Any], cluster: str | None) -> Identity:
        token_cluster, namespace, name, uid = self._service_account_claims(claims, cluster)
        if self.service_account_issuer(token_cluster) not in _audiences(claims):
            raise Unauthenticated("the token is not meant for this server (audience)")
        return await self.live_service_account(token_cluster, namespace, name, uid)

    async def live_service_account(
        self, cluster: str, namespace: str, name: str, uid: str
    ) -> Identity:
        async with self._db.read() as conn:
            body = await objects.get(
                conn, self._clusters[cluster], "ServiceAccount", namespace, name
            )
        if body is None or body["metadata"]["uid"] != uid:
            raise Unauthenticated("the ServiceAccount of this token no longer exists")
        return service_account_identity(cluster, namespace, name, uid)

    async def _registry_token(
        self, claims: dict[str, Any], cluster: str | None, registry_service: str | None
    ) -> Identity:
        acp = claims.get("acp") or {}
        if registry_service is None or claims.get("aud") != registry_service:
            raise Unauthenticated("the registry token is not meant for this service")
        if cluster is not None and acp.get("cluster") != cluster:
            raise Unauthenticated("the registry token belongs to another cluster")
        access = frozenset(
            RegistryAccess(a.get("type", ""), a.get("name", ""), frozenset(a.get("actions", ())))
            for a in claims.get("access") or ()
        )
        if acp.get("kind") == "serviceaccount":
            base = await self.live_service_account(
                acp.get("cluster", ""),
                acp.get("namespace", ""),
                acp.get("name", ""),
                acp.get("uid", ""),
            )
        elif acp.get("kind") == "user":
            base = await self._live_user(claims["sub"], acp)
        else:
            base = ANONYMOUS
        return replace(base, via="registry-token", token_access=access)

    async def _live_user(self, username: str, acp: dict[str, Any]) -> Identity:
        session_id = acp.get("sid")
        async with self._db.read() as conn:
            user = await accounts.get_user(conn, username)
            live = user is not None and not user.disabled and user.uid == acp.get("uid")
            if live and session_id is not None:
                live = await accounts.session_is_live(conn, int(session_id))
        if not live or user is None:
            raise Unauthenticated("the account or session behind this token is no longer valid")
        return user_identity(user.username, user.uid, user.groups, "registry-token", session_id)

    # --- minting -----------------------------------------------------------------------------

    def mint_service_account_token(
        self,
        cluster: str,
        namespace: str,
        name: str,
        uid: str,
        audiences: list[str] | None,
        seconds: int | None,
    ) -> tuple[str, int]:
        """A signed ServiceAccount token and its expiry (unix seconds)."""
        seconds = max(
            SA_TOKEN_MIN_SECONDS, min(seconds or SA_TOKEN_DEFAULT_SECONDS, SA_TOKEN_MAX_SECONDS)
        )
        now = int(time.time())
        issuer = self.service_account_issuer(cluster)
        claims = {
            "iss": issuer,
            "sub": f"system:serviceaccount:{namespace}:{name}",
            "aud": audiences or [issuer],
            "iat": now,
            "nbf": now,
            "exp": now + seconds,
            "jti": new_jti(),
            "kubernetes.io": {"namespace": namespace, "serviceaccount": {"name": name, "uid": uid}},
            "acp.io": {"cluster": cluster},
        }
        return self._keys.sign(claims), now + seconds

    def mint_registry_token(
        self,
        identity: Identity,
        cluster: str,
        service: str,
        access: list[dict[str, Any]],
        seconds: int,
    ) -> str:
        now = int(time.time())
        acp: dict[str, Any] = {"kind": identity.kind, "uid": identity.uid, "cluster": cluster}
        if identity.session_id is not None:
            acp["sid"] = identity.session_id
        if sa := identity.service_account():
            acp["namespace"], acp["name"] = sa
        claims = {
            "iss": REGISTRY_ISSUER,
            "sub": identity.username,
            "aud": service,
            "iat": now,
            "nbf": now,
            "exp": now + seconds,
            "jti": new_jti(),
            "access": access,
            "acp": acp,
        }
        return self._keys.sign(claims)

    async def review_token(
        self, token: str, audiences: list[str], cluster: str
    ) -> tuple[Identity, list[str]]:
        """TokenReview: who `token` authenticates as for one of `audiences` (default: this
        cluster's API), and the audiences it matched.

        ServiceAccount tokens are audience-aware; session tokens are valid for this server's
        own API only. Registry tokens are not reviewed here.
        """
        api_audience = self.service_account_issuer(cluster)
        wanted = audiences or [api_audience]
        if _looks_like_jwt(token):
            try:
                claims = self._keys.verify(token, audience=None, issuer=None)
            except InvalidToken as exc:
                raise Unauthenticated("the token is not valid or has expired") from exc
            if claims.get("iss") == REGISTRY_ISSUER:
                raise Unauthenticated("registry tokens are not valid for this API")
            matched = [a for a in wanted if a in _audiences(claims)]
            if not matched:
                raise Unauthenticated(
                    f"token audiences {_audiences(claims)} are invalid for the target "
                    f"audiences {wanted}"
                )
            identity = await self.live_service_account(
                *self._service_account_claims(claims, cluster)
            )
            return identity, matched
        if api_audience not in wanted:
            raise Unauthenticated(f"the token is not valid for the target audiences {wanted}")
        identity = await self.resolve(f"Bearer {token}", cluster=cluster)
        if identity.is_anonymous:
            raise Unauthenticated("no token was given")
        return identity, [api_audience]

    # --- cache -------------------------------------------------------------------------------

    def _remember(
        self, key: Any, gen_key: str, generation: int, identity: Identity, seconds: float
    ) -> None:
        if seconds > 0:
            expires = time.time() + min(seconds, PASSWORD_CACHE_SECONDS * 5)
            self._cache.put(key, gen_key, generation, _Cached(identity, expires))


def _audiences(claims: dict[str, Any]) -> list[str]:
    audience = claims.get("aud")
    return [a for a in (audience if isinstance(audience, list) else [audience]) if a]


def _liveness_key(claims: dict[str, Any]) -> str:
    """The generation key whose bump must end a cached verification of this token."""
    if claims.get("iss") == REGISTRY_ISSUER:
        acp = claims.get("acp") or {}
        if acp.get("kind") == "serviceaccount":
            return objects.generation_key(
                acp.get("cluster", ""),
                "ServiceAccount",
                acp.get("namespace", ""),
                acp.get("name", ""),
            )
        if acp.get("sid") is not None:
            return accounts.session_id_generation_key(int(acp["sid"]))
        return accounts.user_generation_key(str(claims.get("sub", "")))
    info = claims.get("kubernetes.io") or {}
    return objects.generation_key(
        (claims.get("acp.io") or {}).get("cluster", ""),
        "ServiceAccount",
        info.get("namespace", ""),
        (info.get("serviceaccount") or {}).get("name", ""),
    )


def _decode_basic(credentials: str) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise Unauthenticated("malformed Basic credentials") from exc
    username, sep, password = decoded.partition(":")
    if not sep:
        raise Unauthenticated("malformed Basic credentials")
    return username, password
