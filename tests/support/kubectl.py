"""Drive the real kubectl against a test server: a kubeconfig per user, a private cache."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.support.server import RunningServer

KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"


def write_kubeconfig(
    path: Path, server: RunningServer, token: str, cluster: str = "global"
) -> Path:
    """A kubeconfig whose server is the cluster's Kubernetes API and whose user holds `token`.

    The server must serve HTTPS: kubectl sends no credentials to an `http://` server.
    """
    assert server.tls_ca is not None, "kubectl only sends tokens over HTTPS"
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": cluster,
                "cluster": {
                    "server": f"{server.url}/kubernetes/{cluster}",
                    "certificate-authority": str(server.tls_ca),
                },
            }
        ],
        "users": [{"name": "user", "user": {"token": token}}],
        "contexts": [{"name": "ctx", "context": {"cluster": cluster, "user": "user"}}],
        "current-context": "ctx",
    }
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


@dataclass
class Kubectl:
    kubeconfig: Path
    cache_dir: Path

    def run(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
        env["HOME"] = str(self.cache_dir)
        return subprocess.run(
            [
                KUBECTL,
                "--kubeconfig",
                str(self.kubeconfig),
                "--cache-dir",
                str(self.cache_dir),
                *args,
            ],
            capture_output=True,
            text=True,
            input=input,
            env=env,
            timeout=60,
            check=False,
        )

    def ok(self, *args: str, input: str | None = None) -> str:
        """stdout of a command that must succeed without printing anything on stderr (no
        warnings, no discovery or OpenAPI complaints)."""
        done = self.run(*args, input=input)
        assert done.returncode == 0, f"kubectl {' '.join(args)} failed:\n{done.stderr}"
        assert done.stderr == "", f"kubectl {' '.join(args)} complained:\n{done.stderr}"
        return done.stdout

    def fails(self, *args: str, input: str | None = None) -> str:
        """stderr of a command that must fail."""
        done = self.run(*args, input=input)
        assert done.returncode != 0, f"kubectl {' '.join(args)} succeeded:\n{done.stdout}"
        return done.stderr


def kubectl_for(server: RunningServer, token: str, directory: Path, name: str) -> Kubectl:
    directory.mkdir(parents=True, exist_ok=True)
    kubeconfig = write_kubeconfig(directory / f"{name}.kubeconfig", server, token)
    cache = directory / f"{name}-cache"
    cache.mkdir(exist_ok=True)
    return Kubectl(kubeconfig, cache)
