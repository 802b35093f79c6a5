"""Our own server as the registry that OCI client tests talk to, with platform credentials
set up the way a namespace administrator would: with `ac`, over the real APIs.

In namespace `e2e`:

| endpoint | credentials | bound to |
| --- | --- | --- |
| `pusher` | user `e2e-pusher`, password | `system:image-pusher`, `system:image-deleter` |
| `serviceaccount` | any name, token of ServiceAccount `e2e/builder` | `system:image-pusher` |
| `puller` | user `e2e-puller`, password | `system:image-puller` |

Namespace `e2e-other` has no binding for any of them; `admin` may do anything anywhere.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from tests.support.cli import make_ac
from tests.support.endpoint import RegistryEndpoint
from tests.support.server import RunningServer

NAMESPACE = "e2e"
OTHER_NAMESPACE = "e2e-other"


@dataclass(frozen=True)
class AcpRegistry:
    server: RunningServer
    pusher: RegistryEndpoint
    serviceaccount: RegistryEndpoint
    puller: RegistryEndpoint
    admin: RegistryEndpoint


def prepare(server: RunningServer, workdir: Path) -> AcpRegistry:
    """Create the namespaces, accounts and bindings above with `ac`; the endpoints."""
    ac = make_ac(workdir)
    ac.login(server)
    passwords = {name: secrets.token_urlsafe(12) for name in ("e2e-pusher", "e2e-puller")}
    for name, password in passwords.items():
        ac.ok("create", "user", name, f"--password={password}")
    for namespace in (NAMESPACE, OTHER_NAMESPACE):
        ac.ok("create", "namespace", namespace)
    grants = [
        ("pusher-push", "system:image-pusher", "--user=e2e-pusher"),
        ("pusher-delete", "system:image-deleter", "--user=e2e-pusher"),
        ("puller-pull", "system:image-puller", "--user=e2e-puller"),
        ("builder-push", "system:image-pusher", f"--serviceaccount={NAMESPACE}:builder"),
    ]
    ac.ok("create", "serviceaccount", "builder", "-n", NAMESPACE)
    for binding, role, who in grants:
        ac.ok("create", "rolebinding", binding, f"--clusterrole={role}", who, "-n", NAMESPACE)
    token = ac.ok("create", "token", "builder", "-n", NAMESPACE, "--duration=6h").out.strip()

    def endpoint(user: str, password: str, name: str) -> RegistryEndpoint:
        return RegistryEndpoint(
            host=server.host, username=user, password=password, namespace=NAMESPACE, name=name
        )

    return AcpRegistry(
        server=server,
        pusher=endpoint("e2e-pusher", passwords["e2e-pusher"], "acp-user"),
        # Any user name goes with a ServiceAccount token.
        serviceaccount=endpoint("ci", token, "acp-serviceaccount"),
        puller=endpoint("e2e-puller", passwords["e2e-puller"], "acp-puller"),
        admin=endpoint("admin", server.admin_password, "acp-admin"),
    )
