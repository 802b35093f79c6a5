"""Who `ac` acts as and where it sends requests: the current login session from the
kubeconfig, or, inside a Pod with no session, the mounted ServiceAccount token."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from acp.cli.errors import CliError
from acp.cli.http import Api, tls_context, url_problem, verification
from acp.cli.kubeconfig import ClusterInfo, KubeConfig, Session, default_path

if TYPE_CHECKING:
    import ssl

SERVICEACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
IN_CLUSTER_REGISTRY = "image-registry.image-registry-system.svc:5000"
DEFAULT_NAMESPACE = "default"

# Environment variables `ac` reads (besides KUBECONFIG and the AC_LOGIN_* ones of `ac login`).
ENV_REGISTRY_URL = "AC_REGISTRY_URL"
ENV_PLATFORM_URL = "AC_PLATFORM_URL"
ENV_CLUSTER = "AC_CLUSTER"
ENV_SERVICEACCOUNT_DIR = "AC_SERVICEACCOUNT_DIR"


def parse_time(value: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def check_url(value: str, source: str) -> str:
    """A registry or platform URL with an http(s) scheme, without a trailing slash."""
    if "://" not in value:
        raise CliError(
            f"{source} {value!r} has no scheme; write it as https://{value} "
            f"(or http://{value} for a plain-HTTP server)"
        )
    problem = url_problem(value)
    if problem:
        raise CliError(f"{source} {value!r} {problem}")
    return value.rstrip("/")


def jwt_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, unverified: only used to learn which cluster and namespace a
    mounted ServiceAccount token names (the server verifies it)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}


@dataclass
class Target:
    source: str  # "session" or "serviceaccount"
    token: str
    cluster: str
    namespace: str
    platform_url: str
    kubernetes_api: str
    username: str
    verify: bool | ssl.SSLContext = True
    session: Session | None = None
    cluster_info: ClusterInfo | None = None
    serviceaccount_dir: str = ""
    _advertised: ClusterInfo | None = field(default=None, repr=False)

    @property
    def described(self) -> str:
        if self.session is not None:
            return f"session {self.session.name!r}"
        return f"ServiceAccount token of {self.username}"

    @property
    def unauthorized_hint(self) -> str:
        if self.session is not None:
            return (
                f"the session {self.session.name!r} has expired or was revoked; run "
                f"`ac login {self.session.platform_url} --name {self.session.name}` to log in again"
            )
        return (
            f"the ServiceAccount token in {self.serviceaccount_dir} was refused (expired, or the "
            "ServiceAccount is gone); check the Pod's serviceAccountName"
        )

    def bad_url(self, what: str, url: str, problem: str) -> CliError:
        """A URL this target holds is damaged: where it is, and how to fix it."""
        if self.session is not None:
            return CliError(
                f"{what} URL {url!r} in the kubeconfig session {self.session.name!r} {problem}; "
                f"log in again with `ac login <platform-url> --name {self.session.name}`"
            )
        return CliError(f"{what} URL {url!r} {problem}; check {ENV_PLATFORM_URL}")

    def _api(self, url: str, what: str) -> Api:
        problem = url_problem(url)
        if problem:
            raise self.bad_url(what, url, problem)
        return Api(
            url,
            token=self.token,
            verify=self.verify,
            unauthorized_hint=self.unauthorized_hint,
            what=what,
        )

    def platform(self) -> Api:
        if not self.platform_url:
            raise CliError(
                f"no platform URL is known; set {ENV_PLATFORM_URL} to the platform's URL "
                "(or log in with `ac login`)"
            )
        return self._api(self.platform_url, "the platform API")

    def kubernetes(self) -> Api:
        if not self.kubernetes_api:
            self.platform()  # explains what is missing
        return self._api(self.kubernetes_api, "the Kubernetes API")

    def registry_api(self, url: str) -> Api:
        return self._api(url, "the registry API")

    def advertised(self) -> ClusterInfo | None:
        """The current cluster as the platform advertised it: remembered at login, or asked
        for once when running on a ServiceAccount token with a known platform URL."""
        if self.cluster_info is not None:
            return self.cluster_info
        if self._advertised is None and self.platform_url:
            items = self.platform().get("/api/v1/clusters").get("items", [])
            for item in items:
                if item.get("name") == self.cluster:
                    self._advertised = ClusterInfo.from_api(item)
        return self._advertised


@dataclass
class State:
    """What every command gets: the environment and the global flags."""

    env: Mapping[str, str]
    kubeconfig_flag: str = ""
    context_flag: str = ""
    _target: Target | None = None

    @property
    def kubeconfig_path(self) -> Path:
        if self.kubeconfig_flag:
            return Path(self.kubeconfig_flag).expanduser()
        return default_path(self.env)

    def config(self) -> KubeConfig:
        return KubeConfig.load(self.kubeconfig_path)

    def target(self) -> Target:
        if self._target is None:
            self._target = self._resolve()
        return self._target

    def _resolve(self) -> Target:
        config = self.config()
        current = config.resolve(self.context_flag or None)
        if self.context_flag and current is None:
            raise CliError(
                f"context {self.context_flag!r} is not an `ac` session in {config.path}; "
                "run `ac config get-sessions` to see them"
            )
        if current is not None:
            session = current.session
            expires = parse_time(session.expires_at)
            if expires is not None and expires <= datetime.now(UTC):
                raise CliError(
                    f"the session {session.name!r} expired at {session.expires_at}; run "
                    f"`ac login {session.platform_url} --name {session.name}` to log in again"
                )
            verify = verification(
                session.insecure_skip_tls_verify, session.certificate_authority_data
            )
            return Target(
                source="session",
                token=session.token,
                cluster=current.cluster.name,
                namespace=current.namespace,
                platform_url=session.platform_url,
                kubernetes_api=current.cluster.kubernetes_api,
                username=session.username,
                verify=verify,
                session=session,
                cluster_info=current.cluster,
            )
        pod = self._serviceaccount()
        if pod is not None:
            return pod
        raise CliError("you are not logged in; run `ac login <platform-url>` first")

    def _serviceaccount(self) -> Target | None:
        directory = Path(self.env.get(ENV_SERVICEACCOUNT_DIR) or SERVICEACCOUNT_DIR)
        try:
            token = (directory / "token").read_text().strip()
        except OSError:
            return None
        if not token:
            return None
        try:
            namespace = (directory / "namespace").read_text().strip()
        except OSError:
            namespace = ""
        claims = jwt_claims(token)
        k8s = claims.get("kubernetes.io") or {}
        namespace = namespace or str(k8s.get("namespace", ""))
        cluster = (
            self.env.get(ENV_CLUSTER)
            or str((claims.get("acp.io") or {}).get("cluster", ""))
            or "global"
        )
        platform_url = self.env.get(ENV_PLATFORM_URL, "")
        if platform_url:
            platform_url = check_url(platform_url, ENV_PLATFORM_URL)
        ca_file = directory / "ca.crt"
        verify: bool | ssl.SSLContext = True
        if ca_file.is_file():
            verify = tls_context(ca_file=str(ca_file))
        return Target(
            source="serviceaccount",
            token=token,
            cluster=cluster,
            namespace=namespace,
            platform_url=platform_url,
            kubernetes_api=f"{platform_url}/kubernetes/{cluster}" if platform_url else "",
            username=str(claims.get("sub", "a ServiceAccount")),
            verify=verify,
            serviceaccount_dir=str(directory),
        )


def registry_api_url(flag: str, state: State) -> tuple[str, str]:
    """(URL, where it came from): `--registry-url` > AC_REGISTRY_URL > the URL the platform
    advertised for the current cluster > the in-cluster default."""
    if flag:
        return check_url(flag, "--registry-url"), "--registry-url"
    from_env = state.env.get(ENV_REGISTRY_URL, "")
    if from_env:
        return check_url(from_env, ENV_REGISTRY_URL), ENV_REGISTRY_URL
    advertised = state.target().advertised()
    if advertised is not None and advertised.registry_api_url:
        source = "the login session" if state.target().session else "the platform"
        url = advertised.registry_api_url
        problem = url_problem(url)
        if problem:
            if state.target().session is not None:
                raise state.target().bad_url("the registry API", url, problem)
            raise CliError(
                f"the registry API URL {url!r} the platform advertises {problem}; "
                "give --registry-url"
            )
        return url.rstrip("/"), source
    return f"https://{IN_CLUSTER_REGISTRY}", "the in-cluster default"
