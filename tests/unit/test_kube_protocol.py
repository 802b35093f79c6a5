"""The Kubernetes API's wire details: request paths, protobuf bodies kubectl sends, patches,
selectors, content negotiation, validation words and kubectl's age format."""

from __future__ import annotations

import pytest

from acp.platform.kube import (
    codec,
    errors,
    patch,
    protobuf,
    requestinfo,
    schema,
    selectors,
    validation,
)
from acp.platform.kube.tables import human_duration

# Bodies captured from kubectl v1.32 (`kubectl create rolebinding|token|role`, `auth can-i`).
ROLE_BINDING_PB = bytes.fromhex(
    "6b3873000a2b0a1c726261632e617574686f72697a6174696f6e2e6b38732e696f2f7631120b526f6c654269"
    "6e64696e6712dc010a1f0a0a70756c6c2d616c69636512001a056d792d6e7322002a00320038004200122a0a"
    "04557365721219726261632e617574686f72697a6174696f6e2e6b38732e696f1a05616c6963652200122a0a"
    "0547726f75701219726261632e617574686f72697a6174696f6e2e6b38732e696f1a0464657673220012220a"
    "0e536572766963654163636f756e7412001a076275696c64657222056d792d6e731a3d0a19726261632e6175"
    "74686f72697a6174696f6e2e6b38732e696f120b436c7573746572526f6c651a1373797374656d3a696d6167"
    "652d70756c6c65721a002200"
)
TOKEN_REQUEST_PB = bytes.fromhex(
    "6b3873000a280a1861757468656e7469636174696f6e2e6b38732e696f2f7631120c546f6b656e5265717565"
    "737412250a100a0012001a0022002a00320038004200120b0a0261310a02613220b0091a040a0012001a002200"
)
ROLE_PB = bytes.fromhex(
    "6b3873000a240a1c726261632e617574686f72697a6174696f6e2e6b38732e696f2f76311204526f6c65123c"
    "0a170a02723112001a056d792d6e7322002a0032003800420012210a036765740a046c69737412001a0f7365"
    "72766963656163636f756e74732201781a002200"
)
SSAR_PB = (
    b"k8s\x00\n2\n\x17authorization.k8s.io/v1\x12\x17SelfSubjectAccessReview\x12a\n\x10\n\x00"
    b'\x12\x00\x1a\x00"\x00*\x002\x008\x00B\x00\x12C\nA\n\x05my-ns\x12\x03get\x1a\x0cimage.acp.io'
    b'"\x00*\x0cimagestreams2\x00:\x13layers.image.acp.io\x1a\x08\x08\x00\x12\x00\x1a\x00 \x00'
    b'\x1a\x00"\x00'
)


def test_protobuf_role_binding() -> None:
    api_version, kind, obj = protobuf.decode(ROLE_BINDING_PB)
    assert (api_version, kind) == ("rbac.authorization.k8s.io/v1", "RoleBinding")
    assert obj["metadata"] == {"name": "pull-alice", "namespace": "my-ns"}
    assert obj["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "system:image-puller",
    }
    assert obj["subjects"][2] == {"kind": "ServiceAccount", "name": "builder", "namespace": "my-ns"}


def test_protobuf_token_request_and_role() -> None:
    assert protobuf.decode(TOKEN_REQUEST_PB)[2]["spec"] == {
        "audiences": ["a1", "a2"],
        "expirationSeconds": 1200,
    }
    rules = protobuf.decode(ROLE_PB)[2]["rules"]
    # The core group is the empty string and must survive decoding.
    assert rules == [
        {
            "verbs": ["get", "list"],
            "apiGroups": [""],
            "resources": ["serviceaccounts"],
            "resourceNames": ["x"],
        }
    ]


def test_protobuf_access_review() -> None:
    spec = protobuf.decode(SSAR_PB)[2]["spec"]
    assert spec == {
        "resourceAttributes": {
            "namespace": "my-ns",
            "verb": "get",
            "group": "image.acp.io",
            "resource": "imagestreams",
            "name": "layers.image.acp.io",
        }
    }


@pytest.mark.parametrize(
    "body",
    [b"", b"k8s", b"k8s\x00\x0a\xff", b"k8s\x00\n\x05\n\x01v\x12\x00", ROLE_PB[:-10], b"{}"],
)
def test_protobuf_garbage_is_refused(body: bytes) -> None:
    with pytest.raises(protobuf.ProtobufError):
        protobuf.decode(body)


def test_protobuf_body_through_codec() -> None:
    decoded = codec.decode_body(ROLE_PB, codec.PROTOBUF)
    assert decoded.protobuf
    assert decoded.obj["kind"] == "Role"


# --- request info ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "query", "expected"),
    [
        ("GET", "/api", {}, dict(is_resource_request=False, verb="get", path="/api")),
        ("GET", "/apis/rbac.authorization.k8s.io/v1", {}, dict(is_resource_request=False)),
        ("GET", "/api/v1/namespaces", {}, dict(verb="list", resource="namespaces", namespace="")),
        (
            "GET",
            "/api/v1/namespaces/my-ns",
            {},
            dict(verb="get", resource="namespaces", name="my-ns", namespace="my-ns"),
        ),
        ("DELETE", "/api/v1/namespaces/my-ns", {}, dict(verb="delete", namespace="my-ns")),
        (
            "POST",
            "/api/v1/namespaces/my-ns/serviceaccounts/builder/token",
            {},
            dict(verb="create", resource="serviceaccounts", name="builder", subresource="token"),
        ),
        (
            "GET",
            "/apis/rbac.authorization.k8s.io/v1/namespaces/a/rolebindings",
            {"watch": "true"},
            dict(verb="watch", api_group="rbac.authorization.k8s.io", namespace="a"),
        ),
        (
            "GET",
            "/apis/rbac.authorization.k8s.io/v1/rolebindings",
            {"fieldSelector": "metadata.name=x"},
            dict(verb="list", name="x", namespace=""),
        ),
        ("DELETE", "/api/v1/namespaces/a/serviceaccounts", {}, dict(verb="deletecollection")),
        ("PATCH", "/api/v1/namespaces/a/serviceaccounts/s", {}, dict(verb="patch", name="s")),
        (
            "PUT",
            "/api/v1/namespaces/a/status",
            {},
            dict(resource="namespaces", subresource="status"),
        ),
    ],
)
def test_request_info(method: str, path: str, query: dict[str, str], expected: dict) -> None:
    info = requestinfo.parse(method, path, query)
    for key, value in expected.items():
        assert getattr(info, key) == value, key


# --- patches -----------------------------------------------------------------------------------

CURRENT = {
    "metadata": {"name": "b", "labels": {"a": "1", "b": "2"}},
    "subjects": [{"kind": "User", "name": "x"}],
    "secrets": [{"name": "s1"}, {"name": "s2"}],
}


def test_merge_patch() -> None:
    out = patch.merge_patch(
        CURRENT, {"metadata": {"labels": {"a": None, "c": "3"}}, "subjects": []}
    )
    assert out["metadata"]["labels"] == {"b": "2", "c": "3"}
    assert out["subjects"] == []
    assert CURRENT["metadata"]["labels"] == {"a": "1", "b": "2"}  # input untouched


def test_json_patch() -> None:
    out = patch.json_patch(
        CURRENT,
        [
            {"op": "add", "path": "/subjects/-", "value": {"kind": "User", "name": "y"}},
            {"op": "replace", "path": "/metadata/labels/a", "value": "9"},
            {"op": "remove", "path": "/metadata/labels/b"},
            {"op": "test", "path": "/metadata/name", "value": "b"},
            {"op": "copy", "from": "/metadata/name", "path": "/metadata/labels/n"},
        ],
    )
    assert [s["name"] for s in out["subjects"]] == ["x", "y"]
    assert out["metadata"]["labels"] == {"a": "9", "n": "b"}


@pytest.mark.parametrize(
    "operations",
    [
        [{"op": "test", "path": "/metadata/name", "value": "other"}],
        [{"op": "remove", "path": "/nope"}],
        [{"op": "add", "path": "/subjects/7", "value": 1}],
        [{"op": "frobnicate", "path": "/a"}],
        [{"path": "/a"}],
    ],
)
def test_failing_json_patch(operations: list) -> None:
    with pytest.raises(errors.KubeError) as caught:
        patch.json_patch(CURRENT, operations)
    assert caught.value.code == 422


def test_strategic_merge_patch() -> None:
    out = patch.strategic_merge_patch(
        CURRENT,
        {
            "$setElementOrder/secrets": [{"name": "s2"}],
            "secrets": [{"name": "s3"}, {"name": "s1", "$patch": "delete"}],
            "subjects": [{"kind": "Group", "name": "g"}],
            "metadata": {"labels": {"$patch": "replace", "z": "1"}},
        },
    )
    assert out["secrets"] == [{"name": "s2"}, {"name": "s3"}]  # merged by name
    assert out["subjects"] == [{"kind": "Group", "name": "g"}]  # atomic list: replaced
    assert out["metadata"]["labels"] == {"z": "1"}


# --- selectors ---------------------------------------------------------------------------------


def _obj(name: str, **labels: str) -> dict:
    return {"metadata": {"name": name, "namespace": "n", "labels": labels}}


@pytest.mark.parametrize(
    ("selector", "names"),
    [
        ("team=a", ["one"]),
        ("team==a", ["one"]),
        ("team!=a", ["two", "three"]),
        ("team in (a,b)", ["one", "two"]),
        ("team notin (a, b)", ["three"]),
        ("tier", ["two"]),
        ("!tier", ["one", "three"]),
        ("team in (a,b),tier", ["two"]),
    ],
)
def test_label_selector(selector: str, names: list[str]) -> None:
    objects = [_obj("one", team="a"), _obj("two", team="b", tier="x"), _obj("three")]
    assert [
        o["metadata"]["name"] for o in objects if selectors.label_selector(selector)(o)
    ] == names


def test_field_selector() -> None:
    assert selectors.field_selector("metadata.name=one")(_obj("one"))
    assert not selectors.field_selector("metadata.name!=one,metadata.namespace=n")(_obj("one"))
    with pytest.raises(errors.KubeError):
        selectors.field_selector("spec.nodeName=x")


def test_bad_label_selector() -> None:
    with pytest.raises(errors.KubeError):
        selectors.label_selector("a in (b")


# --- negotiation -------------------------------------------------------------------------------


def test_kubectl_table_accept_header() -> None:
    accept = (
        "application/json;as=Table;v=v1;g=meta.k8s.io,"
        "application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
    )
    assert codec.negotiate(accept, tables=True).format == "table"
    assert codec.negotiate(accept, tables=False).format == "json"
    assert codec.negotiate("application/yaml", tables=True).format == "yaml"
    assert codec.negotiate("application/vnd.kubernetes.protobuf,*/*", tables=True).format == "json"
    with pytest.raises(errors.KubeError) as caught:
        codec.negotiate("application/vnd.kubernetes.protobuf", tables=True)
    assert caught.value.reason == "NotAcceptable"


def test_field_validation_modes() -> None:
    decoded = codec.check_fields(
        codec.decode_body(
            b'{"kind":"Role","rules":[],"rulez":1,"kind":"Role"}', "application/json"
        ),
        schema.ROLE,
    )
    assert "rulez" not in decoded.obj
    warnings: list[str] = []
    codec.apply_field_validation(decoded, "Warn", warnings)
    assert warnings == ['duplicate field "kind"', 'unknown field "rulez"']
    with pytest.raises(errors.KubeError) as caught:
        codec.apply_field_validation(decoded, "Strict", [])
    assert caught.value.code == 400
    assert "strict decoding error" in caught.value.message


# --- validation and printing -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("my-ns", True),
        ("a", True),
        ("My_NS", False),
        ("-a", False),
        ("a" * 64, False),
        ("a.b", False),
    ],
)
def test_dns1123_label(name: str, ok: bool) -> None:
    assert (validation.dns1123_label(name) == []) is ok


@pytest.mark.parametrize(
    ("name", "ok"),
    [("system:image-puller", True), ("a.b", True), ("..", False), ("a/b", False), ("a%2F", False)],
)
def test_path_segment_names(name: str, ok: bool) -> None:
    assert (validation.path_segment(name) == []) is ok


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (-5, "<invalid>"),
        (119, "119s"),
        (125, "2m5s"),
        (600, "10m"),
        (7500, "125m"),
        (14700, "4h5m"),
        (30 * 3600, "30h"),
        (3 * 86400 + 3600, "3d1h"),
        (40 * 86400, "40d"),
        (800 * 86400, "2y70d"),
    ],
)
def test_human_duration(seconds: int, text: str) -> None:
    assert human_duration(seconds) == text
