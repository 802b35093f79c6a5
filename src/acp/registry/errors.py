"""OCI registry errors: the spec's codes, their HTTP statuses, and the JSON body.

Services raise `RegistryError`; the registry's middleware renders it as
`{"errors": [{"code", "message", "detail"}]}`.
"""

from __future__ import annotations

from typing import Any

BLOB_UNKNOWN = "BLOB_UNKNOWN"
BLOB_UPLOAD_INVALID = "BLOB_UPLOAD_INVALID"
BLOB_UPLOAD_UNKNOWN = "BLOB_UPLOAD_UNKNOWN"
DIGEST_INVALID = "DIGEST_INVALID"
MANIFEST_BLOB_UNKNOWN = "MANIFEST_BLOB_UNKNOWN"
MANIFEST_INVALID = "MANIFEST_INVALID"
MANIFEST_UNKNOWN = "MANIFEST_UNKNOWN"
NAME_INVALID = "NAME_INVALID"
NAME_UNKNOWN = "NAME_UNKNOWN"
SIZE_INVALID = "SIZE_INVALID"
UNAUTHORIZED = "UNAUTHORIZED"
DENIED = "DENIED"
UNSUPPORTED = "UNSUPPORTED"
TOOMANYREQUESTS = "TOOMANYREQUESTS"
# Legacy Docker code, which the spec says clients may meet.
TAG_INVALID = "TAG_INVALID"


class RegistryError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        detail: Any = None,
        *,
        headers: dict[str, str] | None = None,
        more: list[tuple[str, str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.detail = detail
        self.headers = headers or {}
        # Further (code, message, detail) entries, e.g. every missing blob of a manifest.
        self.more = more or []

    def body(self) -> dict[str, Any]:
        entries = [(self.code, self.message, self.detail), *self.more]
        return {
            "errors": [
                {"code": code, "message": message, "detail": detail if detail is not None else {}}
                for code, message, detail in entries
            ]
        }


def name_invalid(message: str) -> RegistryError:
    return RegistryError(400, NAME_INVALID, message)


def name_unknown(repository: str) -> RegistryError:
    return RegistryError(
        404, NAME_UNKNOWN, "repository name not known to registry", {"name": repository}
    )


def namespace_unknown(repository: str, namespace: str) -> RegistryError:
    return RegistryError(
        404,
        NAME_UNKNOWN,
        f"repository name not known to registry: the namespace {namespace!r} does not exist",
        {"name": repository, "namespace": namespace},
    )


def manifest_unknown(reference: str) -> RegistryError:
    return RegistryError(
        404, MANIFEST_UNKNOWN, "manifest unknown to registry", {"reference": reference}
    )


def blob_unknown(digest: str) -> RegistryError:
    return RegistryError(404, BLOB_UNKNOWN, "blob unknown to registry", {"digest": digest})


def upload_unknown(upload_id: str) -> RegistryError:
    return RegistryError(
        404, BLOB_UPLOAD_UNKNOWN, "blob upload unknown to registry", {"uuid": upload_id}
    )


def digest_invalid(message: str, digest: str = "") -> RegistryError:
    return RegistryError(400, DIGEST_INVALID, message, {"digest": digest} if digest else None)


def manifest_invalid(message: str, status: int = 400) -> RegistryError:
    return RegistryError(status, MANIFEST_INVALID, message)


def unsupported(message: str, status: int = 405) -> RegistryError:
    return RegistryError(status, UNSUPPORTED, message)
