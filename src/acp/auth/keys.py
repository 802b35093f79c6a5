"""Signing keys for ServiceAccount and registry tokens, shared by all workers via the database.

Tokens are ES256 JWTs: small, fast to verify, and verifiable by others from the public key.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy.ext.asyncio import AsyncConnection

from acp.db import tables

ALGORITHM = "ES256"


class InvalidToken(Exception):
    """A token that is malformed, forged, expired or meant for someone else."""


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: ec.EllipticCurvePrivateKey

    @property
    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self.private_key.public_key()

    def jwk(self) -> dict[str, str]:
        numbers = self.public_key.public_numbers()

        def b64(n: int) -> str:
            return base64.urlsafe_b64encode(n.to_bytes(32, "big")).rstrip(b"=").decode()

        return {
            "kty": "EC",
            "crv": "P-256",
            "alg": ALGORITHM,
            "use": "sig",
            "kid": self.kid,
            "x": b64(numbers.x),
            "y": b64(numbers.y),
        }


class KeyRing:
    """The newest key signs; every stored key verifies (so keys can be rotated)."""

    def __init__(self, keys: list[SigningKey]) -> None:
        if not keys:
            raise RuntimeError("no signing key in the database; run the server bootstrap first")
        self.signing = keys[0]
        self._by_kid = {k.kid: k for k in keys}

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(
            claims, self.signing.private_key, algorithm=ALGORITHM, headers={"kid": self.signing.kid}
        )

    def verify(self, token: str, *, audience: str | list[str] | None, issuer: str | None) -> dict:
        try:
            header = jwt.get_unverified_header(token)
            key = self._by_kid.get(header.get("kid", ""))
            if key is None or header.get("alg") != ALGORITHM:
                raise InvalidToken("the token was not signed by this server")
            return jwt.decode(
                token,
                key.public_key,
                algorithms=[ALGORITHM],
                audience=audience,
                issuer=issuer,
                options={"require": ["exp", "iat", "sub"], "verify_aud": audience is not None},
                leeway=5,
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from exc

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        return {"keys": [k.jwk() for k in self._by_kid.values()]}


def _kid(private_key: ec.EllipticCurvePrivateKey) -> str:
    der = private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()[:16]).rstrip(b"=").decode()


async def ensure_signing_key(conn: AsyncConnection) -> None:
    exists = (await conn.execute(sa.select(tables.signing_keys.c.kid).limit(1))).first()
    if exists:
        return
    private_key = ec.generate_private_key(ec.SECP256R1())
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    await conn.execute(
        tables.signing_keys.insert().values(
            kid=_kid(private_key),
            algorithm=ALGORITHM,
            private_key_pem=pem,
            created_at=datetime.now(UTC),
        )
    )


async def load_key_ring(conn: AsyncConnection) -> KeyRing:
    rows = await conn.execute(
        sa.select(tables.signing_keys.c.kid, tables.signing_keys.c.private_key_pem).order_by(
            tables.signing_keys.c.created_at.desc()
        )
    )
    keys = []
    for kid, pem in rows:
        private_key = serialization.load_pem_private_key(pem.encode(), password=None)
        assert isinstance(private_key, ec.EllipticCurvePrivateKey)
        keys.append(SigningKey(kid, private_key))
    return KeyRing(keys)


def new_jti() -> str:
    return uuid.uuid4().hex
