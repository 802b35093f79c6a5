"""`acp-admin backup` while the server runs and pushes are under way, `acp-admin restore` into
a new data directory (and a new PostgreSQL database), and a server started on the restore
serving every image pushed before the backup, checked by digest."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from acp.storage.filesystem import INSTALLATION_FILE
from tests.support.acp_fixtures import DATABASES
from tests.support.partial import PartialPatch
from tests.support.platform import Platform
from tests.support.registry_client import Image, RegistryClient, make_image, sha256
from tests.support.server import RunningServer, free_port, postgres_database, running_server

ADMIN_BIN = Path(sys.executable).with_name("acp-admin")
NS = "team"


def acp_admin(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(ADMIN_BIN), *args], capture_output=True, text=True, timeout=300, check=False
    )
    if check:
        assert done.returncode == 0, f"acp-admin {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done


def server_args(server: RunningServer) -> list[str]:
    args = ["--data-dir", str(server.data_dir)]
    return args + (["--database-url", server.database_url] if server.database_url else [])


@dataclass
class Pushed:
    before: dict[str, Image] = field(default_factory=dict)  # tag -> image
    during: dict[str, Image] = field(default_factory=dict)
    late: str = ""


@dataclass
class Restored:
    database: str
    backup: Path
    server: RunningServer
    pushed: Pushed
    summary: dict[str, object]
    source: RunningServer  # still serving


def _pusher(server: RunningServer, stop: threading.Event, pushed: Pushed) -> None:
    """Keep pushing small images until told to stop: pushes that straddle the backup."""
    with RegistryClient(server.url, basic=("admin", server.admin_password)) as client:
        n = 0
        while not stop.is_set():
            image = make_image(layers=2, layer_size=30_000)
            tag = f"during-{n}"
            assert client.push_image(f"{NS}/busy", tag, image).status_code == 201
            pushed.during[tag] = image
            n += 1


@pytest.fixture(scope="module", params=DATABASES)
def restored(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Restored]:
    tmp = tmp_path_factory.mktemp("backup")
    with ExitStack() as stack:
        source = stack.enter_context(running_server(tmp, database=request.param))
        with Platform(source, source.login()) as platform:  # a login: an audit event to keep
            platform.namespace(NS)
        pushed = Pushed()
        admin = ("admin", source.admin_password)
        with RegistryClient(source.url, basic=admin) as client:
            for i in range(3):
                image = make_image(layers=i + 1, layer_size=100_000 * (i + 1))
                assert client.push_image(f"{NS}/app", f"v{i}", image).status_code == 201
                pushed.before[f"v{i}"] = image
            # Two uploads in progress at backup time: one with a finished chunk, one whose
            # request body is still arriving.
            half_done = make_image(layer_size=200_000)
            started = client.start_upload(f"{NS}/late")
            location = started.headers["Location"]
            first = half_done.layers[0][:100_000]
            patched = client.http.patch(
                location, content=first, headers={"Content-Range": f"0-{len(first) - 1}"}
            )
            assert patched.status_code == 202, patched.text
            second = client.start_upload(f"{NS}/late").headers["Location"]

            stop = threading.Event()
            thread = threading.Thread(target=_pusher, args=(source, stop, pushed))
            with PartialPatch(source, second, admin, half_done.config) as finish_partial:
                thread.start()
                backup = tmp / "backup"
                acp_admin("backup", *server_args(source), "--to", str(backup))
                stop.set()
                thread.join(60)
                finish_partial()
            # The first upload completes after the backup: not in it.
            rest = half_done.layers[0][100_000:]
            location = patched.headers["Location"]
            appended = client.http.patch(
                location,
                content=rest,
                headers={"Content-Range": f"100000-{100_000 + len(rest) - 1}"},
            )
            assert appended.status_code == 202, appended.text
            done = client.http.put(
                appended.headers["Location"], params={"digest": sha256(half_done.layers[0])}
            )
            assert done.status_code == 201, done.text
            assert client.push_blob(f"{NS}/late", half_done.config).status_code == 201
            late = client.put_manifest(f"{NS}/late", "late", half_done.manifest)
            assert late.status_code == 201
            pushed.late = "late"

        target_dir = tmp / "restored"
        url = ""
        if request.param == "postgres":
            url = stack.enter_context(postgres_database())
        args = ["--data-dir", str(target_dir)] + (["--database-url", url] if url else [])
        done = acp_admin("restore", "--from", str(backup), *args, "--json")
        summary = json.loads(done.stdout)
        server = RunningServer(target_dir, free_port(), database_url=url)
        server.admin_password = source.admin_password
        stack.callback(server.stop)
        yield Restored(request.param, backup, server.start(), pushed, summary, source)


def _served(server: RunningServer, repo: str, tag: str, image: Image) -> None:
    with RegistryClient(server.url, basic=("admin", server.admin_password)) as client:
        manifest = client.manifest(repo, tag)
        assert manifest.status_code == 200, f"{repo}:{tag}: {manifest.text}"
        assert manifest.headers["Docker-Content-Digest"] == image.digest
        assert sha256(manifest.content) == image.digest
        for blob in image.blobs:
            response = client.blob(repo, sha256(blob))
            assert response.status_code == 200, f"{repo}:{tag} blob: {response.text}"
            assert hashlib.sha256(response.content).hexdigest() == sha256(blob).split(":")[1]


def test_every_image_pushed_before_the_backup_is_served_by_digest(restored: Restored) -> None:
    for tag, image in restored.pushed.before.items():
        _served(restored.server, f"{NS}/app", tag, image)


def test_pushes_during_the_backup_are_whole_or_absent(restored: Restored) -> None:
    assert restored.pushed.during, "no push overlapped the backup"
    present = 0
    with RegistryClient(
        restored.server.url, basic=("admin", restored.server.admin_password)
    ) as client:
        tags = client.tags(f"{NS}/busy")
        kept = set(tags.json().get("tags") or []) if tags.status_code == 200 else set()
    for tag, image in restored.pushed.during.items():
        if tag in kept:
            _served(restored.server, f"{NS}/busy", tag, image)
            present += 1
    assert kept <= set(restored.pushed.during)
    # What finished after the backup is not in it.
    with RegistryClient(
        restored.server.url, basic=("admin", restored.server.admin_password)
    ) as client:
        assert client.manifest(f"{NS}/late", restored.pushed.late).status_code == 404


def test_uploads_in_progress_are_dropped_and_accounts_kept(restored: Restored) -> None:
    assert restored.summary["uploads_dropped"] == 2
    assert restored.summary["database"] == (
        "sqlite" if restored.database == "sqlite" else "postgresql"
    )
    token = restored.server.login()  # the same admin password
    with restored.server.client(token) as c:
        events = c.get("/api/v1/audit", params={"action": "login"}).json()["items"]
    assert len(events) == 2  # the source's login came along
    with restored.server.client(token) as c:
        assert c.get(f"/kubernetes/global/api/v1/namespaces/{NS}").status_code == 200


def test_the_backup_is_private_and_self_describing(restored: Restored) -> None:
    backup = restored.backup
    assert (backup.stat().st_mode & 0o777) == 0o700
    manifest = json.loads((backup / "backup.json").read_text())
    assert manifest["format"] == 1
    assert manifest["database"]["kind"] == restored.summary["database"]
    assert (backup / manifest["database"]["file"]).is_file()
    assert manifest["database"]["schemaRevision"]
    before = {sha256(b) for image in restored.pushed.before.values() for b in image.blobs}
    stored = {f"sha256:{p.name}" for p in (backup / "blobs").rglob("*") if p.is_file()}
    assert before <= stored
    assert manifest["blobs"]["count"] == len(stored)


def test_restore_refuses_a_target_that_holds_data(restored: Restored) -> None:
    args = ["--data-dir", str(restored.server.data_dir)]
    if restored.server.database_url:
        args += ["--database-url", restored.server.database_url]
    refused = acp_admin("restore", "--from", str(restored.backup), *args, check=False)
    assert refused.returncode == 1
    assert "already holds data" in refused.stderr


def test_backup_refuses_a_non_empty_directory(restored: Restored) -> None:
    refused = acp_admin(
        "backup", *server_args(restored.server), "--to", str(restored.backup), check=False
    )
    assert refused.returncode == 1
    assert "is not empty" in refused.stderr


def test_an_incremental_backup_links_unchanged_blobs(restored: Restored, tmp_path: Path) -> None:
    again = tmp_path / "again"
    done = acp_admin(
        "backup",
        *server_args(restored.server),
        "--to",
        str(again),
        "--link-dest",
        str(restored.backup),
        "--json",
    )
    summary = json.loads(done.stdout)
    assert summary["blobs"] > 0
    assert summary["linked"] == summary["blobs"]
    some = next(p for p in (again / "blobs").rglob("*") if p.is_file())
    assert some.stat().st_nlink >= 2


def test_a_damaged_or_incomplete_backup_is_refused(restored: Restored, tmp_path: Path) -> None:
    if restored.database != "sqlite":
        pytest.skip("the checks do not depend on the database")
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-a", str(restored.backup), str(copy)], check=True)
    blob = next(p for p in (copy / "blobs").rglob("*") if p.is_file())
    os.chmod(blob, 0o600)
    blob.write_bytes(b"not what the digest says")
    damaged = acp_admin(
        "restore", "--from", str(copy), "--data-dir", str(tmp_path / "a"), check=False
    )
    assert damaged.returncode == 1
    assert "corrupt" in damaged.stderr
    (copy / "backup.json").unlink()
    incomplete = acp_admin(
        "restore", "--from", str(copy), "--data-dir", str(tmp_path / "b"), check=False
    )
    assert incomplete.returncode == 1
    assert "not a complete backup" in incomplete.stderr


def test_backup_explains_a_missing_database(tmp_path: Path) -> None:
    refused = acp_admin(
        "backup", "--data-dir", str(tmp_path / "nothing"), "--to", str(tmp_path / "b"), check=False
    )
    assert refused.returncode == 1
    assert "no SQLite database" in refused.stderr
    assert "check --data-dir" in refused.stderr
    assert not (tmp_path / "b").exists()  # the name stays free for the next try


def test_the_restored_copy_is_an_installation_of_its_own(restored: Restored) -> None:
    """Garbage collection pairs a database with the blob directory its server last ran on.
    The restored database is older than the original's blobs: paired with them it would
    make the blobs pushed since the backup look unreferenced, so it is refused."""
    marker = Path("blobs") / INSTALLATION_FILE
    original = (restored.source.data_dir / marker).read_text()
    assert (restored.server.data_dir / marker).read_text() != original
    database = restored.server.database_url or str(restored.server.data_dir / "acp.db")
    source_dir = ["--data-dir", str(restored.source.data_dir)]
    refused = acp_admin("gc", *source_dir, "--database-url", database, "--dry-run", check=False)
    assert refused.returncode == 1
    assert "holds the blobs of another database" in refused.stderr
