"""`acp-admin gc` against a running server: what deleted images held is reclaimed, what any
repository still refers to (or a push in progress just uploaded) stays, and pushes work after.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from acp.db import tables
from acp.db.engine import Database
from acp.registry import collector
from acp.server.settings import Settings
from acp.storage.filesystem import (
    ASIDE,
    INSTALLATION_FILE,
    FilesystemBlobStore,
    collection_lock,
)
from tests.integration.test_backup_restore import ADMIN_BIN, acp_admin, server_args
from tests.support.acp_fixtures import DATABASES
from tests.support.platform import Platform
from tests.support.registry_client import (
    OCI_INDEX,
    Image,
    RegistryClient,
    make_artifact,
    make_image,
    make_index,
    sha256,
)
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
        assert _gc(server) == {
            "manifests": 0,
            "links": 0,
            "blobs": 0,
            "files": 0,
            "bytes": 0,
            "restored": 0,
            "dry_run": False,
        }

        # gone's config and second layer lose their link in app; in_progress too. Only
        # in_progress loses its last link: mirror still holds every blob of gone.
        assert _gc(server, "--grace", "0s", "--dry-run")["files"] == 0  # files too recent
        _age_blob_files(server)
        preview = _gc(server, "--grace", "0s", "--dry-run")
        assert preview == {
            "manifests": 0,
            "links": 3,
            "blobs": 1,
            "files": 1,
            "bytes": len(in_progress),
            "restored": 0,
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
    assert refused.returncode == 2  # a command-line mistake
    assert "not a duration such as 30m, 24h or 7d" in refused.stderr
    missing = acp_admin("gc", "--data-dir", str(tmp_path / "nowhere"), check=False)
    assert missing.returncode != 0
    assert "check --data-dir" in missing.stderr
    data_dir = ["--data-dir", str(server.data_dir)]
    for args, said in [
        (["--database-url", "mysql://root@127.0.0.1/acp"], "neither a SQLite path nor"),
        (["--database-url", "postgresql://postgres@127.0.0.1:1/acp"], "cannot use the database"),
    ]:
        refused = acp_admin("gc", *data_dir, *args, check=False)
        assert refused.returncode == 1, refused.stderr
        assert said in refused.stderr
        assert "Traceback" not in refused.stderr
    too_long = acp_admin("gc", *data_dir, "--grace", "99999999999d", check=False)
    assert too_long.returncode == 2
    assert "is longer than 36500 days" in too_long.stderr
    # A bare 0 means no grace period at all.
    assert _gc(server, "--grace", "0", "--dry-run")["dry_run"] is True


def _deleted_image_to_collect(server: RunningServer, client: RegistryClient) -> Image:
    image = make_image(layers=1)
    assert client.push_image(f"{NS}/busy", "v1", image).status_code == 201
    assert client.http.delete(f"/v2/{NS}/busy/manifests/{image.digest}").status_code == 202
    _age_blob_files(server)
    return image


def test_a_collection_refuses_to_start_while_another_or_a_backup_runs(
    server: RunningServer,
) -> None:
    with RegistryClient(server.url, basic=("admin", server.admin_password)) as client:
        image = _deleted_image_to_collect(server, client)
        expected = _gc(server, "--grace", "0s", "--dry-run")
        assert expected["files"] == len(image.blobs)
        for exclusive in (True, False):  # another collection; a backup
            with collection_lock(server.data_dir / "blobs", exclusive=exclusive):
                refused = acp_admin("gc", *server_args(server), "--grace", "0s", check=False)
            assert refused.returncode == 3  # busy: try again later
            assert "another garbage collection or a backup is running" in refused.stderr
            # It said so before changing anything: the links are all still there.
            assert _gc(server, "--grace", "0s", "--dry-run") == expected
        assert _gc(server, "--grace", "0s") == {**expected, "dry_run": False}


def test_a_backup_waits_for_a_collection_in_progress(server: RunningServer, tmp_path: Path) -> None:
    with collection_lock(server.data_dir / "blobs", exclusive=True):
        backup = subprocess.Popen(
            [str(ADMIN_BIN), "backup", *server_args(server), "--to", str(tmp_path / "backup")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(1.0)
        assert backup.poll() is None  # waiting, not failing
    _, stderr = backup.communicate(timeout=120)
    assert backup.returncode == 0, stderr
    assert "waiting for the garbage collection in progress to finish" in stderr
    assert (tmp_path / "backup" / "backup.json").is_file()


def test_files_an_interrupted_collection_left_aside_are_served_after_a_restart(
    server: RunningServer,
) -> None:
    with RegistryClient(server.url, basic=("admin", server.admin_password)) as client:
        image = make_image(layers=1)
        assert client.push_image(f"{NS}/kept", "v1", image).status_code == 201
    layer = _blob_file(server, image.layers[0])
    server.kill9()
    # A collection killed between renaming a file aside and checking it left this behind.
    os.rename(layer, layer.with_name(layer.name + ASIDE))
    server.restart()
    with RegistryClient(server.url, basic=("admin", server.admin_password)) as client:
        assert _pullable(client, f"{NS}/kept", image)


async def test_a_manifest_deleted_while_links_are_collected_keeps_its_blobs_until_next_time(
    server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL each statement sees the latest commits: a manifest deleted between the
    collector's query for links and its query for blobs must not make the blobs look
    unlinked while their links stay (SQLite's single writer rules this race out)."""
    if not server.database_url:
        pytest.skip("SQLite admits no other writer while the collection runs")
    settings = Settings(data_dir=server.data_dir, database_url=server.database_url)
    with RegistryClient(server.url, basic=("admin", server.admin_password)) as client:
        image = make_image(layers=1)
        assert client.push_image(f"{NS}/race", "v1", image).status_code == 201
        _age_blob_files(server)
        find_blobs = collector._digests

        async def delete_then_find(*args: Any) -> list[str]:
            url = f"/v2/{NS}/race/manifests/{image.digest}"
            deleted = await asyncio.to_thread(client.http.delete, url)
            assert deleted.status_code == 202
            return await find_blobs(*args)

        monkeypatch.setattr(collector, "_digests", delete_then_find)
        db = Database(settings.effective_database_url)
        try:
            store = FilesystemBlobStore(settings.blob_dir)
            first = await collector.collect(db, store, timedelta(0))
            monkeypatch.setattr(collector, "_digests", find_blobs)
            assert (first.blobs, first.files) == (0, 0)
            assert all(_blob_file(server, blob).exists() for blob in image.blobs)
            second = await collector.collect(db, store, timedelta(0))
        finally:
            await db.dispose()
    assert (second.links, second.blobs, second.files) == (2, 2, 2)
    assert not any(_blob_file(server, blob).exists() for blob in image.blobs)


def test_untagged_manifests_go_with_their_layers_and_what_tags_reach_stays(
    server: RunningServer,
) -> None:
    repo = f"{NS}/untagged"
    with RegistryClient(server.url, basic=("admin", server.admin_password)) as client:
        kept, untagged, by_digest = make_image(), make_image(), make_image()
        amd64, arm64 = make_image(), make_image(architecture="arm64")
        assert client.push_image(repo, "v1", kept).status_code == 201
        assert client.push_image(repo, "old", untagged).status_code == 201
        assert client.push_image(repo, by_digest.digest, by_digest).status_code == 201
        for child in (amd64, arm64):  # an index's children are pushed by digest, untagged
            assert client.push_image(repo, child.digest, child).status_code == 201
        index = make_index([amd64, arm64])
        assert client.put_manifest(repo, "multi", index, OCI_INDEX).status_code == 201
        # A referrer of a tagged image stays; one of the untagged image goes with it.
        signatures = []
        for subject in (kept, untagged):
            payload = os.urandom(64)
            artifact, empty = make_artifact(subject.manifest, "application/x-sig", payload)
            for blob in (empty, payload):
                assert client.push_blob(repo, blob).status_code == 201
            assert client.put_manifest(repo, sha256(artifact), artifact).status_code == 201
            signatures.append(artifact)
        assert client.http.delete(f"/v2/{repo}/manifests/old").status_code == 202
        _age_blob_files(server)

        args = ["--json", "--grace", "0s", "--untagged"]
        dry_run = acp_admin("gc", *server_args(server), *args, "--dry-run")
        preview = json.loads(dry_run.stdout)
        assert preview["manifests"] == 3  # untagged, by_digest and untagged's signature
        assert '"audit"' not in dry_run.stderr  # nothing was deleted, nothing is recorded
        assert client.manifest(repo, untagged.digest).status_code == 200  # a dry run
        without = _gc(server, "--grace", "0s", "--dry-run")
        assert (without["manifests"], without["files"]) == (0, 0)  # opt-in only

        run = acp_admin("gc", *server_args(server), *args)
        done = json.loads(run.stdout)
        assert done == {**preview, "dry_run": False}
        audited = [json.loads(line) for line in run.stderr.splitlines() if '"audit"' in line]
        assert sorted(e["name"].split("@")[1] for e in audited) == sorted(
            [untagged.digest, by_digest.digest, sha256(signatures[1])]
        )
        assert {(e["action"], e["actor"]) for e in audited} == {
            ("registry.manifest.delete", "acp-admin")
        }
        # untagged's config and layer, by_digest's config and layer, the signature's payload
        # (its empty config is shared with the kept signature).
        assert done["files"] == 5
        for gone in (untagged.digest, by_digest.digest, sha256(signatures[1])):
            assert client.manifest(repo, gone).status_code == 404
        assert not _blob_file(server, untagged.layers[0]).exists()
        for image in (kept, amd64, arm64):
            assert _pullable(client, repo, image)
        assert client.manifest(repo, "multi").status_code == 200
        referrers = client.http.get(f"/v2/{repo}/referrers/{kept.digest}").json()
        assert [d["digest"] for d in referrers["manifests"]] == [sha256(signatures[0])]
        # Nothing reachable is left to take.
        _age_blob_files(server)
        assert _gc(server, "--grace", "0s", "--untagged")["manifests"] == 0


def test_a_blob_directory_of_another_database_is_refused(server: RunningServer) -> None:
    """Against the wrong database every blob would look unreferenced: a stale copy of the
    database, or a server moved to PostgreSQL with its old SQLite file still in place."""
    marker = server.data_dir / "blobs" / INSTALLATION_FILE
    ours = marker.read_text().strip()
    with RegistryClient(server.url, basic=("admin", server.admin_password)) as client:
        image = _deleted_image_to_collect(server, client)
    expected = _gc(server, "--grace", "0s", "--dry-run")
    for marked, said in [
        ("0" * 32, "holds the blobs of another database"),
        (None, "no server has run with this database on"),
    ]:
        if marked is None:
            marker.unlink()
        else:
            marker.write_text(marked + "\n")
        refused = acp_admin("gc", *server_args(server), "--grace", "0s", check=False)
        assert refused.returncode == 1
        assert said in refused.stderr
    assert all(_blob_file(server, blob).exists() for blob in image.blobs)
    server.restart()  # the server writes its installation into the blob directory
    assert marker.read_text().strip() == ours
    assert _gc(server, "--grace", "0s") == {**expected, "dry_run": False}


async def test_a_mount_that_straddles_a_collection_keeps_its_blob(server: RunningServer) -> None:
    """A mount checks that the source repository holds the blob, then links it. A collection
    removing the source's link in between must not leave the new link without a file."""
    if not server.database_url:
        pytest.skip("SQLite admits no other writer while the collection runs")
    import asyncpg

    layer = os.urandom(5000)
    with RegistryClient(server.url, basic=("admin", server.admin_password)) as client:
        assert client.push_blob(f"{NS}/source", layer).status_code == 201
        _age_blob_files(server)
        # Stall the mount inside its transaction: it creates its target repository, and an
        # uncommitted row of the same name makes it wait.
        stall = await asyncpg.connect(server.database_url)
        try:
            transaction = stall.transaction()
            await transaction.start()
            await stall.execute(
                "INSERT INTO repositories (cluster_id, namespace, name, created_at) "
                "SELECT id, $1, $2, now() FROM clusters WHERE name = 'global'",
                NS,
                f"{NS}/target",
            )
            mount = asyncio.create_task(
                asyncio.to_thread(
                    client.http.post,
                    f"/v2/{NS}/target/blobs/uploads/",
                    params={"mount": sha256(layer), "from": f"{NS}/source"},
                )
            )
            await asyncio.sleep(1.0)
            collection = asyncio.create_task(
                asyncio.to_thread(acp_admin, "gc", *server_args(server), "--grace", "0s")
            )
            await asyncio.sleep(1.0)
            await transaction.rollback()
        finally:
            await stall.close()
        mounted, collected = await mount, await collection
        assert collected.returncode == 0, collected.stderr
        if mounted.status_code == 201:  # it linked the blob: the blob must be there
            assert client.blob(f"{NS}/target", sha256(layer)).content == layer
        else:  # it found nothing to mount and asked for an upload
            assert mounted.status_code == 202, server.log_tail()


async def _age_manifests(server: RunningServer, hours: float) -> None:
    """Every manifest pushed `hours` ago, as far as the grace period is concerned."""
    settings = Settings(data_dir=server.data_dir, database_url=server.database_url)
    db = Database(settings.effective_database_url)
    then = datetime.now(UTC) - timedelta(hours=hours)
    try:
        async with db.write() as conn:
            await conn.execute(tables.manifests.update().values(created_at=then, pushed_at=then))
    finally:
        await db.dispose()


async def test_a_manifest_pushed_again_by_digest_is_fresh_for_untagged_collection(
    server: RunningServer,
) -> None:
    """Reusing an old untagged child in a new index: the child is pushed again by digest,
    then the index. A collection in between keeps the child."""
    repo = f"{NS}/reused"
    with RegistryClient(server.url, basic=("admin", server.admin_password)) as client:
        reused, dropped, new = make_image(), make_image(), make_image(architecture="arm64")
        for child in (reused, dropped):
            assert client.push_image(repo, child.digest, child).status_code == 201
        await _age_manifests(server, hours=2)
        assert client.put_manifest(repo, reused.digest, reused.manifest).status_code == 201
        assert client.push_image(repo, new.digest, new).status_code == 201
        _age_blob_files(server)

        collected = await asyncio.to_thread(_gc, server, "--grace", "1h", "--untagged")
        assert collected["manifests"] == 1  # dropped only
        index = make_index([reused, new])
        assert client.put_manifest(repo, "v2", index, OCI_INDEX).status_code == 201
        assert client.manifest(repo, dropped.digest).status_code == 404
