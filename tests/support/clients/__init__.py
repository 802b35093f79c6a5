"""Drivers for real OCI clients, one module per client.

Every driver confines its client to a private work directory (home, config,
authfile, storage) and takes a ``RegistryEndpoint`` for anything remote.
"""

from tests.support.clients.buildah import Buildah
from tests.support.clients.containerd import Containerd, Ctr
from tests.support.clients.docker import Docker, DockerDaemon
from tests.support.clients.oras_py import Oras
from tests.support.clients.podman import Podman
from tests.support.clients.skopeo import Skopeo

__all__ = ["Buildah", "Containerd", "Ctr", "Docker", "DockerDaemon", "Oras", "Podman", "Skopeo"]
