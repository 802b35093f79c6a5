"""Kubernetes objects survive `kill -9`; RBAC changes reach every worker at once; clusters are
separate (SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.acp_fixtures import DATABASES
from tests.support.server import RunningServer, free_port, running_server

RBAC = "rbac.authorization.k8s.io"


@pytest.fixture(scope="module", params=DATABASES)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    tmp: Path = tmp_path_factory.mktemp("acp-durable")
    dev = f"dev=127.0.0.1:{free_port()}"
    with running_server(tmp, database=request.param, workers=2, extra_args=["--cluster", dev]) as s:
        yield s


def kube(server: RunningServer, token: str, cluster: str = "global") -> httpx.Client:
    return httpx.Client(
        base_url=f"{server.url}/kubernetes/{cluster}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


def _created(client: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    r = client.post(path, json=body)
    assert r.status_code == 201, r.text
    return r.json()


def test_acknowledged_objects_survive_kill9(server: RunningServer) -> None:
    token = server.login()
    ns = f"durable-{uuid.uuid4().hex[:6]}"
    acknowledged: dict[str, dict[str, Any]] = {}
    with kube(server, token) as k:
        acknowledged[f"/api/v1/namespaces/{ns}"] = _created(
            k, "/api/v1/namespaces", {"metadata": {"name": ns}}
        )
        for i in range(5):
            path = f"/api/v1/namespaces/{ns}/serviceaccounts"
            acknowledged[f"{path}/sa-{i}"] = _created(k, path, {"metadata": {"name": f"sa-{i}"}})
            path = f"/apis/{RBAC}/v1/namespaces/{ns}/rolebindings"
            body = {
                "metadata": {"name": f"rb-{i}"},
                "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": "view"},
                "subjects": [{"kind": "User", "apiGroup": RBAC, "name": f"user-{i}"}],
            }
            acknowledged[f"{path}/rb-{i}"] = _created(k, path, body)
        role = {
            "metadata": {"name": f"cr-{ns}"},
            "rules": [{"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["get"]}],
        }
        acknowledged[f"/apis/{RBAC}/v1/clusterroles/cr-{ns}"] = _created(
            k, f"/apis/{RBAC}/v1/clusterroles", role
        )
        crb = {
            "metadata": {"name": f"crb-{ns}"},
            "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": f"cr-{ns}"},
            "subjects": [{"kind": "Group", "apiGroup": RBAC, "name": "g"}],
        }
        acknowledged[f"/apis/{RBAC}/v1/clusterrolebindings/crb-{ns}"] = _created(
            k, f"/apis/{RBAC}/v1/clusterrolebindings", crb
        )
        changed = k.patch(
            f"/apis/{RBAC}/v1/namespaces/{ns}/rolebindings/rb-0",
            json={"subjects": [{"kind": "User", "apiGroup": RBAC, "name": "someone-else"}]},
            headers={"Content-Type": "application/merge-patch+json"},
        )
        assert changed.status_code == 200
        acknowledged[f"/apis/{RBAC}/v1/namespaces/{ns}/rolebindings/rb-0"] = changed.json()
        gone = f"/api/v1/namespaces/{ns}/serviceaccounts/sa-4"
        assert k.delete(gone).status_code == 200
        del acknowledged[gone]
        sa_token = k.post(f"/api/v1/namespaces/{ns}/serviceaccounts/sa-0/token", json={})
        assert sa_token.status_code == 201

    server.kill9()
    server.start()

    with kube(server, token) as k:
        for path, body in acknowledged.items():
            r = k.get(path)
            assert r.status_code == 200, path
            assert r.json() == body, path
        assert k.get(gone).status_code == 404
    with kube(server, sa_token.json()["status"]["token"]) as k:
        me = k.post("/apis/authentication.k8s.io/v1/selfsubjectreviews", json={})
        assert me.json()["status"]["userInfo"]["username"] == f"system:serviceaccount:{ns}:sa-0"


def test_rbac_changes_reach_every_worker_at_once(server: RunningServer) -> None:
    token = server.login()
    ns = f"workers-{uuid.uuid4().hex[:6]}"
    review = {
        "spec": {
            "user": "wanda",
            "resourceAttributes": {
                "namespace": ns,
                "verb": "get",
                "group": "image.acp.io",
                "resource": "imagestreams",
                "subresource": "layers",
            },
        }
    }
    path = f"/apis/{RBAC}/v1/namespaces/{ns}/rolebindings"
    with kube(server, token) as k:
        k.post("/api/v1/namespaces", json={"metadata": {"name": ns}})

        def allowed() -> set[bool]:
            # Fresh connections, so that both worker processes answer.
            answers = set()
            for _ in range(8):
                with kube(server, token) as fresh:
                    r = fresh.post(
                        "/apis/authorization.k8s.io/v1/subjectaccessreviews", json=review
                    )
                    answers.add(r.json()["status"]["allowed"])
            return answers

        assert allowed() == {False}
        _created(
            k,
            path,
            {
                "metadata": {"name": "pull"},
                "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": "system:image-puller"},
                "subjects": [{"kind": "User", "apiGroup": RBAC, "name": "wanda"}],
            },
        )
        assert allowed() == {True}
        assert k.delete(f"{path}/pull").status_code == 200
        assert allowed() == {False}


def test_clusters_are_separate(server: RunningServer) -> None:
    token = server.login()
    ns = f"sep-{uuid.uuid4().hex[:6]}"
    with kube(server, token, "dev") as dev, kube(server, token) as main:
        _created(dev, "/api/v1/namespaces", {"metadata": {"name": ns}})
        _created(dev, f"/api/v1/namespaces/{ns}/serviceaccounts", {"metadata": {"name": "bot"}})
        assert main.get(f"/api/v1/namespaces/{ns}").status_code == 404
        _created(main, "/api/v1/namespaces", {"metadata": {"name": ns}})
        _created(main, f"/api/v1/namespaces/{ns}/serviceaccounts", {"metadata": {"name": "bot"}})
        dev_token = dev.post(f"/api/v1/namespaces/{ns}/serviceaccounts/bot/token", json={})
        dev_token = dev_token.json()["status"]["token"]
    with kube(server, dev_token, "dev") as dev_bot, kube(server, dev_token) as main_bot:
        me = dev_bot.post("/apis/authentication.k8s.io/v1/selfsubjectreviews", json={})
        assert me.status_code == 201
        assert main_bot.get("/version").status_code == 401
