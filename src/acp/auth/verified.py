"""Passwords recently verified by any worker process of this host.

A password check costs a memory-hard hash (about 0.1 s by design). Each worker caches the
identities it verified, but OCI clients spread their requests over pooled connections, so
without sharing every worker pays the hash once per user, in the middle of a pull. This table
lets a worker accept a password that another worker verified a moment ago.

It lives in anonymous shared memory created before the workers fork: it is never written to
disk and dies with the server. A slot holds an HMAC (under a random key that also lives
only in that memory) of the user name, the password, the user's cache generation and the
slot's expiry time, followed by that expiry. A hit needs all four to match, so a password
change, disable or delete (which bump the user's generation) ends it at once, and a slot torn
by two writers fails the comparison instead of meaning something else.
"""

from __future__ import annotations

import hashlib
import hmac
import mmap
import os
import struct
import time

SLOTS = 4096
_EXPIRY = struct.Struct("<d")
_MAC_BYTES = 32
_SLOT_BYTES = _MAC_BYTES + _EXPIRY.size


class VerifiedPasswords:
    def __init__(self) -> None:
        self._memory = mmap.mmap(-1, SLOTS * _SLOT_BYTES, flags=mmap.MAP_SHARED)
        self._key = os.urandom(32)

    def _mac(self, username: str, password: str, generation: int, expires: float) -> bytes:
        message = b"\0".join(
            (username.encode(), password.encode(), str(generation).encode(), repr(expires).encode())
        )
        return hmac.new(self._key, message, hashlib.sha256).digest()

    @staticmethod
    def _slot(username: str) -> int:
        digest = hashlib.blake2b(username.encode(), digest_size=8).digest()
        return int.from_bytes(digest, "little") % SLOTS * _SLOT_BYTES

    def remember(self, username: str, password: str, generation: int, seconds: float) -> None:
        expires = time.time() + seconds
        offset = self._slot(username)
        self._memory[offset : offset + _MAC_BYTES] = self._mac(
            username, password, generation, expires
        )
        _EXPIRY.pack_into(self._memory, offset + _MAC_BYTES, expires)

    def check(self, username: str, password: str, generation: int) -> bool:
        offset = self._slot(username)
        (expires,) = _EXPIRY.unpack_from(self._memory, offset + _MAC_BYTES)
        if expires <= time.time():
            return False
        stored = self._memory[offset : offset + _MAC_BYTES]
        return hmac.compare_digest(stored, self._mac(username, password, generation, expires))


_shared: VerifiedPasswords | None = None


def shared() -> VerifiedPasswords:
    """The host's table. Call once before forking workers so that they all share it."""
    global _shared
    if _shared is None:
        _shared = VerifiedPasswords()
    return _shared
