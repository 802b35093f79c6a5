"""CNCF Distribution (Debian's `docker-registry`) as a second, foreign registry, for tests
that copy images from elsewhere into ours (the seed page's `remote.registry.io`). It lets
anyone push and pull, like a public registry on a trusted network."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

from tests.support.endpoint import RegistryEndpoint
from tests.support.procs import Daemon, free_port, remove_tree, require_binary

DISTRIBUTION_BINARY = "docker-registry"

CONFIG_TEMPLATE = """\
version: 0.1
log:
  level: info
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {storage}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:{port}
  secret: acp-tests-peer
  headers:
    X-Content-Type-Options: [nosniff]
"""


class DistributionRegistry:
    """CNCF Distribution with filesystem storage on a free 127.0.0.1 port, no auth."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = 0
        self.daemon: Daemon | None = None

    def start(self) -> RegistryEndpoint:
        binary = require_binary(DISTRIBUTION_BINARY)
        self.workdir.mkdir(parents=True, exist_ok=True)
        # A free port can be taken between probing and binding: retry on a new one.
        for attempt in range(3):
            self.port = free_port()
            config = self.workdir / "config.yml"
            config.write_text(
                CONFIG_TEMPLATE.format(storage=self.workdir / "storage", port=self.port)
            )
            self.daemon = Daemon(
                "docker-registry",
                [binary, "serve", config],
                log=self.workdir / "registry.log",
            )
            try:
                self.daemon.wait_ready(self._answers, timeout=30)
                break
            except RuntimeError:
                if attempt == 2 or "address already in use" not in self.daemon.log_tail():
                    raise
        return RegistryEndpoint(
            host=f"127.0.0.1:{self.port}", username="", password="", name="distribution"
        )

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/v2/", timeout=2):
                return True
        except (urllib.error.HTTPError, OSError):
            return False

    def stop(self) -> None:
        if self.daemon is not None:
            self.daemon.stop()
            self.daemon = None

    def cleanup(self) -> None:
        self.stop()
        remove_tree(self.workdir)
