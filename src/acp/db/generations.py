"""Change counters shared by every worker process of one host, for cache invalidation.

A cache entry remembers the generation of its key *before* it read the database; a writer
bumps the generation *after* its transaction committed. An entry whose remembered
generation differs from the current one is stale. Reading a generation is one memory read
from a shared mmap, so caches stay cheap on hot paths (manifest GET, RBAC decisions,
credential checks).

Keys hash into a fixed number of slots; two keys sharing a slot only cause extra misses.
"""

from __future__ import annotations

import fcntl
import hashlib
import mmap
import os
import struct
from pathlib import Path
from typing import Generic, TypeVar

SLOTS = 8192
_SLOT = struct.Struct("<Q")
V = TypeVar("V")


class Generations:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        size = SLOTS * _SLOT.size
        if os.fstat(self._fd).st_size < size:
            os.ftruncate(self._fd, size)
        self._map = mmap.mmap(self._fd, size)

    @staticmethod
    def _slot(key: str) -> int:
        digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
        return (int.from_bytes(digest, "little") % SLOTS) * _SLOT.size

    def current(self, key: str) -> int:
        return _SLOT.unpack_from(self._map, self._slot(key))[0]

    def bump(self, *keys: str) -> None:
        """Mark every cache entry for these keys stale, in every process of this host."""
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            for key in keys:
                offset = self._slot(key)
                _SLOT.pack_into(self._map, offset, _SLOT.unpack_from(self._map, offset)[0] + 1)
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        self._map.close()
        os.close(self._fd)


class GenerationCache(Generic[V]):
    """A bounded in-process cache whose entries die when their generation key is bumped.

    Usage::

        generation = cache.generation(gen_key)      # read before loading
        value = cache.get(key)
        if value is None:
            value = await load()
            cache.put(key, gen_key, generation, value)
    """

    def __init__(self, generations: Generations, max_entries: int = 10_000) -> None:
        self._generations = generations
        self._max = max_entries
        self._entries: dict[object, tuple[str, int, V]] = {}

    def generation(self, gen_key: str) -> int:
        return self._generations.current(gen_key)

    def get(self, key: object) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        gen_key, generation, value = entry
        if self._generations.current(gen_key) != generation:
            del self._entries[key]
            return None
        return value

    def put(self, key: object, gen_key: str, generation: int, value: V) -> None:
        if len(self._entries) >= self._max:
            # Drop the oldest tenth; dicts keep insertion order.
            for stale in list(self._entries)[: self._max // 10 or 1]:
                del self._entries[stale]
        self._entries[key] = (gen_key, generation, value)

    def clear(self) -> None:
        self._entries.clear()
