"""Every blob store driver runs the same suite: add a driver to `DRIVERS`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from acp.storage.base import BlobStore
from acp.storage.filesystem import FilesystemBlobStore

# name -> factory(directory) building a fresh store; calling the factory twice with the same
# directory gives two independent handles on the same storage (like two worker processes).
DRIVERS: dict[str, Callable[[Path], BlobStore]] = {
    "filesystem": lambda root: FilesystemBlobStore(root),
}


@pytest.fixture(params=sorted(DRIVERS))
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], BlobStore]:
    factory = DRIVERS[request.param]
    return lambda: factory(tmp_path / "store")
