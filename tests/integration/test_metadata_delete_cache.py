"""A tag or manifest deleted through the registry metadata API (`ac delete images`) is gone
from the OCI API at once, even where a worker had the manifest cached."""

from __future__ import annotations

import uuid

from tests.support.platform import Platform
from tests.support.registry_client import RegistryClient, make_image
from tests.support.server import RunningServer


def test_deleted_tags_and_manifests_stop_being_served(
    acp_server: RunningServer, admin_token: str
) -> None:
    ns = f"gone-{uuid.uuid4().hex[:6]}"
    with Platform(acp_server, admin_token) as platform:
        platform.namespace(ns)
    image = make_image()
    with (
        RegistryClient(acp_server.url, basic=("admin", acp_server.admin_password)) as registry,
        acp_server.client(admin_token) as api,
    ):
        for tag in ("v1", "latest"):
            assert registry.push_image(f"{ns}/app", tag, image).status_code == 201
            assert registry.manifest(f"{ns}/app", tag).status_code == 200  # now cached
        assert registry.manifest(f"{ns}/app", image.digest).status_code == 200
        base = f"/api/registry/v1/namespaces/{ns}/repositories/app"

        assert api.delete(f"{base}/tags/v1").status_code == 200
        assert registry.manifest(f"{ns}/app", "v1").status_code == 404
        assert registry.manifest(f"{ns}/app", "latest").status_code == 200

        assert api.delete(f"{base}/manifests/{image.digest}").status_code == 200
        assert registry.manifest(f"{ns}/app", "latest").status_code == 404
        assert registry.manifest(f"{ns}/app", image.digest).status_code == 404
