"""OpenAPI description of the platform API, served at `/openapi.json`."""

from __future__ import annotations

from typing import Any

from acp import __version__


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _json(schema: str, description: str = "OK") -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


def _body(schema: str) -> dict[str, Any]:
    return {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


UNAUTHORIZED = _error("Missing, invalid, expired or revoked credentials")
FORBIDDEN = _error("The caller lacks the permission")
NAME = [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}]

DRY_RUN = {
    "name": "dryRun",
    "in": "query",
    "schema": {"type": "string", "enum": ["true", "false", "All"]},
    "description": "Only report what would be deleted",
}
REPOSITORY = [
    {"name": "namespace", "in": "path", "required": True, "schema": {"type": "string"}},
    {
        "name": "name",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
        "description": "Repository path inside the namespace; may contain '/'",
    },
]
DELETE_RESPONSES = {
    "200": _json("ImageDeletion", "Deleted (or, with dryRun, what would be)"),
    "400": _error("Invalid namespace, repository, tag, digest or dryRun"),
    "401": UNAUTHORIZED,
    "403": _error("No delete permission in the namespace; the message names the role"),
    "404": _error("No such namespace, tag or manifest"),
    "409": _error("The manifest is part of an index in the repository"),
}
# Served on every cluster's registry endpoint (`registryApiUrl` of /api/v1/clusters).
REGISTRY_PATHS: dict[str, Any] = {
    "/api/registry/v1/info": {
        "get": {
            "tags": ["registry metadata"],
            "summary": "The cluster this registry endpoint serves, and its addresses",
            "security": [],
            "responses": {"200": _json("RegistryInfo")},
        }
    },
    "/api/registry/v1/images": {
        "get": {
            "tags": ["registry metadata"],
            "summary": "Tagged images of one namespace, or of every namespace the caller may "
            "pull from; paginated (one query per page)",
            "parameters": [
                {"name": "namespace", "in": "query", "schema": {"type": "string"}},
                {
                    "name": "limit",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 500},
                },
                {"name": "continue", "in": "query", "schema": {"type": "string"}},
            ],
            "responses": {
                "200": _json("ImageList"),
                "400": _error("Invalid namespace, limit or continue token"),
                "401": UNAUTHORIZED,
                "403": _error("No pull permission in the namespace; the message names the role"),
                "404": _error("The namespace does not exist"),
            },
        }
    },
    "/api/registry/v1/namespaces/{namespace}/repositories/{name}/tags/{tag}": {
        "parameters": [
            *REPOSITORY,
            {"name": "tag", "in": "path", "required": True, "schema": {"type": "string"}},
        ],
        "delete": {
            "tags": ["registry metadata"],
            "summary": "Delete one tag; other tags on the same digest stay",
            "parameters": [DRY_RUN],
            "responses": DELETE_RESPONSES,
        },
    },
    "/api/registry/v1/namespaces/{namespace}/repositories/{name}/manifests/{digest}": {
        "parameters": [
            *REPOSITORY,
            {"name": "digest", "in": "path", "required": True, "schema": {"type": "string"}},
        ],
        "delete": {
            "tags": ["registry metadata"],
            "summary": "Delete a manifest and every tag pointing at it",
            "parameters": [DRY_RUN],
            "responses": DELETE_RESPONSES,
        },
    },
}

OPENAPI: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {
        "title": "ACP Registry platform API",
        "version": __version__,
        "description": (
            "Platform accounts and sessions. The Kubernetes-compatible RBAC API lives under "
            "/kubernetes/{cluster}/, the OCI registry under /v2/ and its token service at "
            "/auth/token on each cluster's registry endpoint. The registry metadata API "
            "(/api/registry/v1/…) is served on each cluster's registry endpoint too, at the "
            "registryApiUrl that /api/v1/clusters lists."
        ),
    },
    "components": {
        "securitySchemes": {
            "session": {"type": "http", "scheme": "bearer", "description": "acps_… token"},
            "basic": {"type": "http", "scheme": "basic"},
        },
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error"],
                "properties": {
                    "error": {
                        "type": "object",
                        "required": ["code", "message"],
                        "properties": {
                            "code": {"type": "string"},
                            "message": {"type": "string"},
                        },
                    }
                },
            },
            "LoginRequest": {
                "type": "object",
                "required": ["username", "password"],
                "properties": {
                    "username": {"type": "string", "minLength": 1},
                    "password": {"type": "string", "minLength": 1},
                },
            },
            "LoginResponse": {
                "type": "object",
                "required": ["token", "expiresAt", "user"],
                "properties": {
                    "token": {"type": "string", "pattern": "^acps_"},
                    "expiresAt": {"type": "string", "format": "date-time"},
                    "user": {
                        "type": "object",
                        "properties": {
                            "username": {"type": "string"},
                            "groups": {"type": "array", "items": {"type": "string"}},
                        },
                    },
                },
            },
            "WhoAmI": {
                "type": "object",
                "properties": {
                    "username": {"type": "string"},
                    "uid": {"type": "string"},
                    "groups": {"type": "array", "items": {"type": "string"}},
                    "kind": {"type": "string", "enum": ["user", "serviceaccount", "anonymous"]},
                    "authenticatedBy": {"type": "string"},
                },
            },
            "Cluster": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "kubernetesApi": {"type": "string"},
                    "registryHost": {"type": "string"},
                    "registryUrl": {"type": "string"},
                    "registryApiUrl": {"type": "string"},
                },
            },
            "ClusterList": {
                "type": "object",
                "properties": {
                    "items": {"type": "array", "items": {"$ref": "#/components/schemas/Cluster"}}
                },
            },
            "User": {
                "type": "object",
                "properties": {
                    "username": {"type": "string"},
                    "uid": {"type": "string"},
                    "disabled": {"type": "boolean"},
                    "groups": {"type": "array", "items": {"type": "string"}},
                    "createdAt": {"type": "string", "format": "date-time"},
                },
            },
            "AuditEvent": {
                "type": "object",
                "properties": {
                    "id": {"type": "integer"},
                    "time": {"type": "string", "format": "date-time"},
                    "requestId": {"type": "string"},
                    "cluster": {"type": "string"},
                    "actor": {"type": "string"},
                    "action": {
                        "type": "string",
                        "description": "login, logout, user.create, rolebinding.create, "
                        "registry.tag.delete, registry.manifest.delete, …",
                    },
                    "namespace": {"type": "string"},
                    "resource": {"type": "string"},
                    "name": {"type": "string"},
                    "outcome": {"type": "string", "enum": ["success", "denied"]},
                    "details": {"type": "object"},
                },
            },
            "AuditEventList": {
                "type": "object",
                "properties": {
                    "apiVersion": {"type": "string"},
                    "kind": {"type": "string"},
                    "items": {
                        "type": "array",
                        "items": {"$ref": "#/components/schemas/AuditEvent"},
                    },
                    "continue": {
                        "type": "string",
                        "description": "Pass as `continue` to get the next page",
                    },
                },
            },
            "UserList": {
                "type": "object",
                "properties": {
                    "items": {"type": "array", "items": {"$ref": "#/components/schemas/User"}}
                },
            },
            "NewUser": {
                "type": "object",
                "required": ["username", "password"],
                "properties": {
                    "username": {"type": "string"},
                    "password": {"type": "string", "minLength": 8},
                    "groups": {"type": "array", "items": {"type": "string"}},
                },
            },
            "UserPatch": {
                "type": "object",
                "properties": {
                    "disabled": {"type": "boolean"},
                    "password": {"type": "string", "minLength": 8},
                    "groups": {"type": "array", "items": {"type": "string"}},
                },
            },
            "Image": {
                "type": "object",
                "description": "One tag and the manifest it points at",
                "required": [
                    "namespace",
                    "repository",
                    "tag",
                    "digest",
                    "mediaType",
                    "size",
                    "created",
                    "tagged",
                    "platforms",
                ],
                "properties": {
                    "namespace": {"type": "string"},
                    "repository": {
                        "type": "string",
                        "description": "Repository path inside the namespace (my-app, tools/x)",
                    },
                    "tag": {"type": "string"},
                    "digest": {"type": "string", "example": "sha256:4f1c…"},
                    "mediaType": {"type": "string"},
                    "size": {
                        "type": "integer",
                        "description": "Bytes of config and layers (an index: of all images)",
                    },
                    "created": {
                        "type": "string",
                        "format": "date-time",
                        "description": "When the manifest was pushed",
                    },
                    "tagged": {
                        "type": "string",
                        "format": "date-time",
                        "description": "When the tag was last set to this digest",
                    },
                    "platforms": {"type": "array", "items": {"type": "string"}},
                },
            },
            "ImageList": {
                "type": "object",
                "properties": {
                    "apiVersion": {"type": "string", "enum": ["registry.acp.io/v1"]},
                    "kind": {"type": "string", "enum": ["ImageList"]},
                    "metadata": {
                        "type": "object",
                        "properties": {
                            "continue": {
                                "type": "string",
                                "description": "Pass as `continue` for the next page; empty "
                                "on the last page",
                            },
                            "cluster": {"type": "string"},
                            "registryHost": {"type": "string"},
                        },
                    },
                    "items": {"type": "array", "items": {"$ref": "#/components/schemas/Image"}},
                },
            },
            "ImageDeletion": {
                "type": "object",
                "properties": {
                    "apiVersion": {"type": "string", "enum": ["registry.acp.io/v1"]},
                    "kind": {"type": "string", "enum": ["ImageDeletion"]},
                    "dryRun": {"type": "boolean"},
                    "namespace": {"type": "string"},
                    "repository": {"type": "string"},
                    "reference": {"type": "string", "description": "The tag or digest asked for"},
                    "digest": {"type": "string"},
                    "deletedTags": {
                        "type": "array",
                        "items": {"type": "string"},
                        "description": "Tags removed (or, in a dry run, that would be)",
                    },
                    "manifestDeleted": {"type": "boolean"},
                    "remainingTags": {
                        "type": "array",
                        "items": {"type": "string"},
                        "description": "Other tags on the same digest, which stay",
                    },
                },
            },
            "RegistryInfo": {
                "type": "object",
                "properties": {
                    "apiVersion": {"type": "string"},
                    "kind": {"type": "string", "enum": ["RegistryInfo"]},
                    "cluster": {"type": "string"},
                    "registryHost": {"type": "string"},
                    "registryUrl": {"type": "string"},
                    "registryApiUrl": {"type": "string"},
                    "serverVersion": {"type": "string"},
                },
            },
            "PasswordChange": {
                "type": "object",
                "required": ["password"],
                "properties": {
                    "password": {"type": "string", "minLength": 8},
                    "currentPassword": {"type": "string"},
                },
            },
        },
    },
    "security": [{"session": []}, {"basic": []}],
    "paths": {
        "/api/v1/login": {
            "post": {
                "summary": "Log in with a user name and password; returns a session token",
                "security": [],
                "requestBody": _body("LoginRequest"),
                "responses": {
                    "201": _json("LoginResponse", "Logged in"),
                    "400": _error("Malformed request"),
                    "401": _error("Invalid username or password"),
                    "429": _error("Too many failed logins; see Retry-After"),
                },
            }
        },
        "/api/v1/logout": {
            "post": {
                "summary": "Revoke the session token used for this request",
                "responses": {"204": {"description": "Logged out"}, "401": UNAUTHORIZED},
            }
        },
        "/api/v1/whoami": {
            "get": {
                "summary": "The identity behind the credentials",
                "responses": {"200": _json("WhoAmI"), "401": UNAUTHORIZED},
            }
        },
        "/api/v1/clusters": {
            "get": {
                "summary": "Clusters with their Kubernetes API base and registry addresses",
                "responses": {"200": _json("ClusterList"), "401": UNAUTHORIZED},
            }
        },
        "/api/v1/audit": {
            "get": {
                "summary": "Audit events, oldest first (cluster-admin of the global cluster)",
                "parameters": [
                    {
                        "name": "since",
                        "in": "query",
                        "schema": {"type": "string"},
                        "description": "RFC 3339 time or a duration back from now (15m, 2h, 7d)",
                    },
                    {"name": "until", "in": "query", "schema": {"type": "string"}},
                    {"name": "actor", "in": "query", "schema": {"type": "string"}},
                    {
                        "name": "action",
                        "in": "query",
                        "schema": {"type": "string"},
                        "description": "Exact action, or a prefix ending in * (rolebinding.*)",
                    },
                    {"name": "cluster", "in": "query", "schema": {"type": "string"}},
                    {"name": "namespace", "in": "query", "schema": {"type": "string"}},
                    {"name": "outcome", "in": "query", "schema": {"type": "string"}},
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
                    },
                    {"name": "continue", "in": "query", "schema": {"type": "string"}},
                ],
                "responses": {
                    "200": _json("AuditEventList"),
                    "400": _error("Invalid parameter"),
                    "401": UNAUTHORIZED,
                    "403": FORBIDDEN,
                },
            }
        },
        "/api/v1/users": {
            "get": {
                "summary": "List users (administrators)",
                "responses": {"200": _json("UserList"), "401": UNAUTHORIZED, "403": FORBIDDEN},
            },
            "post": {
                "summary": "Create a user (administrators)",
                "requestBody": _body("NewUser"),
                "responses": {
                    "201": _json("User", "Created"),
                    "401": UNAUTHORIZED,
                    "403": FORBIDDEN,
                    "409": _error("The user exists"),
                    "422": _error("Invalid name or password"),
                },
            },
        },
        "/api/v1/users/{name}": {
            "parameters": NAME,
            "get": {
                "summary": "Get a user (administrators)",
                "responses": {
                    "200": _json("User"),
                    "401": UNAUTHORIZED,
                    "403": FORBIDDEN,
                    "404": _error("No such user"),
                },
            },
            "patch": {
                "summary": "Disable or enable a user, set groups or password (administrators)",
                "requestBody": _body("UserPatch"),
                "responses": {
                    "200": _json("User"),
                    "401": UNAUTHORIZED,
                    "403": FORBIDDEN,
                    "404": _error("No such user"),
                    "422": _error("Invalid change"),
                },
            },
            "delete": {
                "summary": "Delete a user and end their sessions (administrators)",
                "responses": {
                    "204": {"description": "Deleted"},
                    "401": UNAUTHORIZED,
                    "403": FORBIDDEN,
                    "404": _error("No such user"),
                },
            },
        },
        "/api/v1/users/{name}/password": {
            "parameters": NAME,
            "put": {
                "summary": "Set a password: your own (with currentPassword) or any (admins)",
                "requestBody": _body("PasswordChange"),
                "responses": {
                    "204": {"description": "Changed; the user's sessions end"},
                    "401": UNAUTHORIZED,
                    "403": FORBIDDEN,
                    "404": _error("No such user"),
                    "422": _error("Password refused"),
                },
            },
        },
        **REGISTRY_PATHS,
    },
}
