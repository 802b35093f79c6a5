"""`acp-admin gc` against a running server: what deleted images held is reclaimed, what any
repository still refers to (or a push in progress just uploaded) stays, and pushes work after.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.test_backup_restore import acp_admin, server_args
from tests.support.acp_fixtures import DATABASES
from tests.support.platform import Platform
from tests.support.registry_client import Image, RegistryClient, make_image, sha256
from tests.support.server import RunningServer, running_server

NS = "gc"


@pytest.fixture(params=DATABASES)
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunningServer]:
    with running_server(tmp_path, database=request.param) as started:
        with Platform(started, started.login()) as platform:
            platform.namespace(NS)
        yield started


def _gc(server: RunningServer, *args: str) -> dict[str, int]:
    done = acp_admin("gc", *server_args(server), "--json", *args)
    return json.loads(done.stdout)


def _age_blob_files(server: RunningServer) -> None:
    """Files committed in the last minutes are never swept (an upload renames its file into
    place just before recording it); make every file an hour old."""
    an_hour_ago = time.time() - 3600
    for path in (server.data_dir / "blobs" / "sha256").glob("*/*"):
        os.utime(path, (an_hour_ago, an_hour_ago))


def _blob_file(server: RunningServer, data: bytes) -> Path:
    encoded = sha256(data).removeprefix("sha256:")
    return server.data_dir / "blobs" / "sha256" / encoded[:2] / encoded


def _pullable(client: RegistryClient, repo: str, image: Image) -> bool:
    return all(client.blob(repo, sha256(blob)).content == blob for blob in image.blobs) and (
        client.manifest(repo, image.digest).status_code == 200
    )


def test_deleted_images_are_reclaimed_and_the_rest_stays(server: RunningServer) -> None:
    with RegistryClient(server.url, basic=("admin", server.admin_password)) as client:
        gone, kept = make_image(layers=2), make_image(layers=1)
        # An image sharing a layer with the one that will be deleted.
        shared = _image_with(kept.config, [kept.layers[0], gone.layers[0]])
        assert client.push_image(f"{NS}/app", "gone", gone).status_code == 201
        assert client.push_image(f"{NS}/app", "shared", shared).status_code == 201
        assert client.push_image(f"{NS}/mirror", "gone", gone).status_code == 201
        in_progress = b"a layer whose manifest is not pushed yet"
        assert client.push_blob(f"{NS}/app", in_progress).status_code == 201
        assert client.http.delete(f"/v2/{NS}/app/manifests/{gone.digest}").status_code == 202

        # Everything is younger than the grace period: nothing goes.
        assert _gc(server) == {"links": 0, "blobs": 0, "files": 0, "bytes": 0, "dry_run": False}

        # gone's config and second layer lose their link in app; in_progress too. Only
        # in_progress loses its last link: mirror still holds every blob of gone.
        assert _gc(server, "--grace", "0s", "--dry-run")["files"] == 0  # files too recent
        _age_blob_files(server)
        preview = _gc(server, "--grace", "0s", "--dry-run")
        assert preview == {
            "links": 3,
            "blobs": 1,
            "files": 1,
            "bytes": len(in_progress),
            "dry_run": True,
        }
        assert client.blob(f"{NS}/app", sha256(in_progress)).status_code == 200  # unchanged
        assert _gc(server, "--grace", "0s") == {**preview, "dry_run": False}
        assert client.blob(f"{NS}/app", sha256(in_progress)).status_code == 404
        assert not _blob_file(server, in_progress).exists()
        assert client.blob(f"{NS}/app", sha256(gone.layers[1])).status_code == 404
        assert _pullable(client, f"{NS}/app", shared)
        assert _pullable(client, f"{NS}/mirror", gone)

        # The last image holding gone's blobs goes: its content goes, the shared layer stays.
        assert client.http.delete(f"/v2/{NS}/mirror/manifests/{gone.digest}").status_code == 202
        _age_blob_files(server)
        reclaimed = _gc(server, "--grace", "0s")
        assert reclaimed["files"] == 2  # gone's config and its second layer
        assert reclaimed["bytes"] == len(gone.config) + len(gone.layers[1])
        assert not _blob_file(server, gone.layers[1]).exists()
        assert _blob_file(server, gone.layers[0]).exists()
        assert _pullable(client, f"{NS}/app", shared)

        # Pushing the collected image again works, and nothing is left to collect.
        assert client.push_image(f"{NS}/app", "again", gone).status_code == 201
        assert _pullable(client, f"{NS}/app", gone)
        _age_blob_files(server)
        assert _gc(server, "--grace", "0s")["files"] == 0


def _image_with(config: bytes, layers: list[bytes]) -> Image:
    image = make_image(layers=len(layers))
    manifest = json.loads(image.manifest)
    manifest["config"]["digest"], manifest["config"]["size"] = sha256(config), len(config)
    for descriptor, layer in zip(manifest["layers"], layers, strict=True):
        descriptor["digest"], descriptor["size"] = sha256(layer), len(layer)
    return Image(config, layers, json.dumps(manifest).encode(), image.media_type)


def test_bad_input_changes_nothing(server: RunningServer, tmp_path: Path) -> None:
    refused = acp_admin("gc", *server_args(server), "--grace", "soon", check=False)
    assert refused.returncode != 0
    assert "not a duration such as 30m, 24h or 7d" in refused.stderr
    missing = acp_admin("gc", "--data-dir", str(tmp_path / "nowhere"), check=False)
    assert missing.returncode != 0
    assert "check --data-dir" in missing.stderr
