"""Cross-process cache generations."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from acp.db.generations import GenerationCache, Generations


def _bump(path: str, key: str, times: int) -> None:
    generations = Generations(Path(path))
    for _ in range(times):
        generations.bump(key)


def test_bumps_from_other_processes_are_seen_and_none_is_lost(tmp_path: Path) -> None:
    path = tmp_path / "generations"
    generations = Generations(path)
    before = generations.current("rbac:global")
    workers = [
        multiprocessing.get_context("fork").Process(
            target=_bump, args=(str(path), "rbac:global", 200)
        )
        for _ in range(4)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert generations.current("rbac:global") == before + 800


def test_cache_entries_die_when_their_key_is_bumped(tmp_path: Path) -> None:
    generations = Generations(tmp_path / "g")
    cache: GenerationCache[str] = GenerationCache(generations, max_entries=10)
    generation = cache.generation("user:alice")
    cache.put("alice-creds", "user:alice", generation, "identity")
    assert cache.get("alice-creds") == "identity"
    generations.bump("user:alice")
    assert cache.get("alice-creds") is None


def test_cache_is_bounded(tmp_path: Path) -> None:
    generations = Generations(tmp_path / "g")
    cache: GenerationCache[int] = GenerationCache(generations, max_entries=10)
    for i in range(50):
        cache.put(i, "k", cache.generation("k"), i)
    assert cache.get(49) == 49
    assert cache.get(0) is None
