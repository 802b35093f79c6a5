"""skopeo against our registry with platform credentials: login, copy an OCI layout in and
out with equal digests, a multi-platform index, inspect, list-tags, delete, and a refusal.

Images are built offline from busybox-static, deterministically."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import platform_rows
from tests.support.platform_rows import subject
from tests.support.server import RunningServer

pytestmark = [
    pytest.mark.clients,
    pytest.mark.skipif(shutil.which("skopeo") is None, reason="skopeo is not installed"),
    pytest.mark.skipif(not Path("/bin/busybox").exists(), reason="busybox-static is missing"),
]

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def _blob(layout: Path, data: bytes) -> dict[str, object]:
    digest = hashlib.sha256(data).hexdigest()
    path = layout / "blobs" / "sha256" / digest
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def _busybox_layer() -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for directory in ("bin",):
            info = tarfile.TarInfo(directory)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 0
            tar.addfile(info)
        binary = Path("/bin/busybox").read_bytes()
        info = tarfile.TarInfo("bin/busybox")
        info.size, info.mode, info.mtime = len(binary), 0o755, 0
        tar.addfile(info, io.BytesIO(binary))
        for name in ("sh", "echo", "cat"):
            link = tarfile.TarInfo(f"bin/{name}")
            link.type, link.linkname, link.mtime = tarfile.SYMTYPE, "busybox", 0
            tar.addfile(link)
    return gzip.compress(raw.getvalue(), mtime=0)


@dataclass
class Layout:
    path: Path
    # What index.json points at: an image manifest or an index.
    digest: str
    raw: bytes


def _image(layout: Path, layer: bytes, architecture: str) -> tuple[dict[str, object], bytes]:
    diff_id = "sha256:" + hashlib.sha256(gzip.decompress(layer)).hexdigest()
    config = json.dumps(
        {
            "architecture": architecture,
            "os": "linux",
            "config": {"Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        },
        sort_keys=True,
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                **_blob(layout, config),
            },
            "layers": [
                {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **_blob(layout, layer)}
            ],
        },
        sort_keys=True,
    ).encode()
    return {"mediaType": OCI_MANIFEST, **_blob(layout, manifest)}, manifest


def _write_layout(layout: Path, top: dict[str, object], raw: bytes) -> Layout:
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    entry = {**top, "annotations": {"org.opencontainers.image.ref.name": "latest"}}
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [entry]}))
    return Layout(layout, str(top["digest"]), raw)


@pytest.fixture(scope="module")
def busybox(tmp_path_factory: pytest.TempPathFactory) -> tuple[Layout, Layout]:
    """(a single image, a two-platform index) as OCI layouts."""
    layer = _busybox_layer()
    single_dir = tmp_path_factory.mktemp("single")
    descriptor, raw = _image(single_dir, layer, "amd64")
    single = _write_layout(single_dir, descriptor, raw)
    index_dir = tmp_path_factory.mktemp("index")
    children = []
    for architecture in ("amd64", "arm64"):
        child, _ = _image(index_dir, layer, architecture)
        children.append({**child, "platform": {"os": "linux", "architecture": architecture}})
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}).encode()
    top = {"mediaType": OCI_INDEX, **_blob(index_dir, index)}
    return single, _write_layout(index_dir, top, index)


class Skopeo:
    def __init__(self, server: RunningServer, home: Path) -> None:
        self.host = server.host
        self.authfile = home / "auth.json"
        self.env = {**os.environ, "HOME": str(home), "XDG_RUNTIME_DIR": str(home)}

    def run(
        self, *args: str, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["skopeo", "--insecure-policy", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=300,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"skopeo {' '.join(args)} failed:\n{result.stderr}")
        return result

    def login(self, user: str, password: str) -> subprocess.CompletedProcess[str]:
        return self.run(
            "login", "--tls-verify=false", "--authfile", str(self.authfile), "-u", user,
            "--password-stdin", self.host, stdin=password, check=False,
        )  # fmt: skip

    def remote(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """A command on docker:// references, with the stored credentials."""
        command, *rest = args
        flags = ["--authfile", str(self.authfile)]
        if command == "copy":
            flags += ["--src-tls-verify=false", "--dest-tls-verify=false"]
        else:
            flags += ["--tls-verify=false"]
        return self.run(command, *flags, *rest, check=check)


def _layout_top(path: Path) -> str:
    return str(json.loads((path / "index.json").read_text())["manifests"][0]["digest"])


def test_skopeo_round_trip(
    acp_server: RunningServer, admin_token: str, busybox: tuple[Layout, Layout], tmp_path: Path
) -> None:
    single, index = busybox
    ns = f"sk-{uuid.uuid4().hex[:6]}"
    platform_rows.create_namespace(acp_server, ns)
    user, password = f"dev-{uuid.uuid4().hex[:6]}", f"pw-{uuid.uuid4().hex}"
    acp_server.create_user(user, password, admin_token)
    platform_rows.bind(acp_server, ns, "dev-edit", "edit", [subject("User", user)])
    skopeo = Skopeo(acp_server, tmp_path)

    assert skopeo.login(user, "wrong-password").returncode != 0
    assert skopeo.login(user, password).returncode == 0

    image_ref = f"docker://{skopeo.host}/{ns}/busybox:v1"
    skopeo.remote("copy", f"oci:{single.path}:latest", image_ref)
    assert skopeo.remote("inspect", "--raw", image_ref).stdout.encode() == single.raw
    inspected = json.loads(skopeo.remote("inspect", image_ref).stdout)
    assert inspected["Digest"] == single.digest
    assert inspected["Architecture"] == "amd64"

    out = tmp_path / "out"
    skopeo.remote("copy", image_ref, f"oci:{out}:latest")
    assert _layout_top(out) == single.digest
    for blob in (single.path / "blobs" / "sha256").iterdir():
        assert (out / "blobs" / "sha256" / blob.name).read_bytes() == blob.read_bytes()

    index_ref = f"docker://{skopeo.host}/{ns}/busybox:multi"
    skopeo.remote("copy", "--all", f"oci:{index.path}:latest", index_ref)
    assert skopeo.remote("inspect", "--raw", index_ref).stdout.encode() == index.raw
    out_index = tmp_path / "out-index"
    skopeo.remote("copy", "--all", index_ref, f"oci:{out_index}:latest")
    assert _layout_top(out_index) == index.digest

    tags = json.loads(skopeo.remote("list-tags", f"docker://{skopeo.host}/{ns}/busybox").stdout)
    assert sorted(tags["Tags"]) == ["multi", "v1"]

    skopeo.remote("delete", image_ref)
    assert skopeo.remote("inspect", "--raw", image_ref, check=False).returncode != 0
    tags = json.loads(skopeo.remote("list-tags", f"docker://{skopeo.host}/{ns}/busybox").stdout)
    assert tags["Tags"] == ["multi"]


def test_skopeo_is_refused_without_push_permission(
    acp_server: RunningServer, admin_token: str, busybox: tuple[Layout, Layout], tmp_path: Path
) -> None:
    single, _ = busybox
    ns = f"sk-{uuid.uuid4().hex[:6]}"
    platform_rows.create_namespace(acp_server, ns)
    user, password = f"viewer-{uuid.uuid4().hex[:6]}", f"pw-{uuid.uuid4().hex}"
    acp_server.create_user(user, password, admin_token)
    platform_rows.bind(
        acp_server, ns, "viewer-pull", "system:image-puller", [subject("User", user)]
    )
    skopeo = Skopeo(acp_server, tmp_path)
    assert skopeo.login(user, password).returncode == 0
    refused = skopeo.remote(
        "copy", f"oci:{single.path}:latest", f"docker://{skopeo.host}/{ns}/busybox:v1", check=False
    )
    assert refused.returncode != 0
    assert "unauthorized" in refused.stderr.lower() or "denied" in refused.stderr.lower()
