"""HTTP client for the three server surfaces `ac` talks to (platform API, Kubernetes API,
registry metadata API), turning every failure into one sentence for the user."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from acp import __version__
from acp.cli.errors import CliError

if TYPE_CHECKING:
    import ssl

    import httpx

# Unit tests swap in an in-process transport (httpx.MockTransport).
_transport: httpx.BaseTransport | None = None

TIMEOUT_SECONDS = 30.0


def use_transport(transport: httpx.BaseTransport | None) -> None:
    global _transport
    _transport = transport


class HttpError(CliError):
    """The server answered with an error status."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


def url_problem(value: str) -> str | None:
    """Why `value` is not an http(s) URL requests can be sent to; None when it is."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(value)
        _port = parts.port  # raises for a port that is not a number from 0 to 65535
    except ValueError as exc:
        return f"is not a valid URL ({str(exc)[:1].lower()}{str(exc)[1:]})"
    if parts.scheme not in ("http", "https"):
        return "must start with https:// or http://"
    if not parts.hostname:
        return "has no host name"
    return None


def tls_context(ca_pem: str = "", ca_file: str = "") -> ssl.SSLContext:
    """The system's trusted roots plus an extra CA (kubeconfig data or a mounted file)."""
    import ssl

    context = ssl.create_default_context()
    if ca_pem:
        context.load_verify_locations(cadata=ca_pem)
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    return context


def verification(insecure: bool = False, ca_data: str = "") -> bool | ssl.SSLContext:
    """How to check a server's certificate: not at all, against kubeconfig CA data
    (base64 PEM) plus the system roots, or against the system roots only."""
    if insecure:
        return False
    if ca_data:
        import base64

        return tls_context(ca_pem=base64.b64decode(ca_data).decode())
    return True


def error_details(response: httpx.Response) -> tuple[str, str]:
    """(reason code, message) from any of our error bodies: platform `{"error": …}`,
    Kubernetes `Status`, or OCI `{"errors": […]}`."""
    try:
        body = response.json()
    except (ValueError, json.JSONDecodeError):
        body = None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error.get("code", "")), str(error["message"])
        if body.get("kind") == "Status" and body.get("message"):
            return str(body.get("reason", "")), str(body["message"])
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            return str(errors[0].get("code", "")), str(errors[0].get("message", ""))
    return "", ""


class Api:
    """One server surface at `base_url`, called with a bearer token."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str = "",
        verify: bool | ssl.SSLContext = True,
        unauthorized_hint: str = "",
        what: str = "the server",
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.verify = verify
        self.unauthorized_hint = unauthorized_hint
        self.what = what
        self._client: httpx.Client | None = None

    def _http(self) -> httpx.Client:
        if self._client is None:
            import httpx

            headers = {"User-Agent": f"ac/{__version__}", "Accept": "application/json"}
            if self.token:
                headers["Authorization"] = f"Bearer {self.token}"
            self._client = httpx.Client(
                headers=headers,
                verify=self.verify,
                timeout=httpx.Timeout(TIMEOUT_SECONDS, connect=10.0),
                transport=_transport,
                trust_env=False,
            )
        return self._client

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json_body: Any = None,
        headers: Sequence[tuple[str, str]] | None = None,
        allow: Sequence[int] = (),
    ) -> httpx.Response:
        """Send a request; error statuses raise HttpError unless listed in `allow`."""
        import httpx

        try:
            response = self._http().request(
                method,
                self.url(path),
                params=params,
                json=json_body,
                headers=list(headers or ()),
            )
        except httpx.ConnectError as exc:
            raise CliError(self._connect_problem(exc)) from exc
        except httpx.TimeoutException as exc:
            raise CliError(
                f"{self.what} at {self.base_url} did not answer in time; check the URL and "
                "your network, then try again"
            ) from exc
        except httpx.RemoteProtocolError as exc:
            hint = (
                "; if the server now serves HTTPS, log in again with `ac login https://…`"
                if self.base_url.startswith("http://")
                else ""
            )
            raise CliError(f"cannot talk to {self.what} at {self.base_url}: {exc}{hint}") from exc
        except httpx.HTTPError as exc:
            raise CliError(f"cannot talk to {self.what} at {self.base_url}: {exc}") from exc
        except httpx.InvalidURL as exc:
            raise CliError(f"{self.what} URL {self.base_url!r} is not valid: {exc}") from exc
        if response.status_code >= 400 and response.status_code not in allow:
            raise self.error(response)
        return response

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs).json()

    def _connect_problem(self, exc: Exception) -> str:
        text = str(exc)
        if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
            return (
                f"the TLS certificate of {self.base_url} is not trusted; log in again with "
                "--certificate-authority=FILE (or --insecure-skip-tls-verify)"
            )
        return (
            f"cannot reach {self.what} at {self.base_url}; check the URL and that the server "
            "is running"
        )

    def error(self, response: httpx.Response) -> HttpError:
        status = response.status_code
        reason, message = error_details(response)
        if status == 401:
            hint = self.unauthorized_hint or "log in with `ac login`"
            return HttpError(status, reason or "Unauthorized", hint)
        if status == 429:
            wait = response.headers.get("Retry-After", "")
            after = f" in {wait} seconds" if wait.isdigit() else " later"
            return HttpError(
                status, reason or "TooManyRequests", f"too many attempts; try again{after}"
            )
        if not message:
            if status in (404, 405):
                message = (
                    f"{self.base_url} does not serve {self.what} (HTTP {status} for "
                    f"{response.request.url.path}); check the URL"
                )
            else:
                message = f"{self.what} at {self.base_url} answered HTTP {status}"
        return HttpError(status, reason, message)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
