"""The kubeconfig file `ac login` writes and every other command reads.

Layout (kubectl reads the same file):

- one user entry per session, `acp:<session>`, holding the session token and, in its
  `acp.io/session` extension, the platform URL, user name, expiry and the session's last used
  cluster;
- one cluster entry per cluster of a session, `acp:<session>:<cluster>`, whose server is the
  cluster's Kubernetes API and whose `acp.io/cluster` extension holds its registry addresses;
- one context per cluster of a session, `<session>/<cluster>`.

Entries that are not ours are never touched, so `ac` shares the file with other tools.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acp.cli.errors import CliError

SESSION_EXTENSION = "acp.io/session"
CLUSTER_EXTENSION = "acp.io/cluster"
SESSION_NAME_RE = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?")


def default_path(env: Mapping[str, str]) -> Path:
    """`KUBECONFIG` (its first file when it lists several), else `~/.kube/config`."""
    value = env.get("KUBECONFIG", "")
    first = next((p for p in value.split(os.pathsep) if p), "")
    if first:
        return Path(first).expanduser()
    home = env.get("HOME") or str(Path.home())
    return Path(home) / ".kube" / "config"


def cluster_entry(session: str, cluster: str) -> str:
    return f"acp:{session}:{cluster}"


def user_entry(session: str) -> str:
    return f"acp:{session}"


def context_name(session: str, cluster: str) -> str:
    return f"{session}/{cluster}"


@dataclass
class ClusterInfo:
    """A cluster as the platform advertises it (`GET /api/v1/clusters`)."""

    name: str
    kubernetes_api: str
    registry_host: str = ""
    registry_url: str = ""
    registry_api_url: str = ""

    @classmethod
    def from_api(cls, item: Mapping[str, Any]) -> ClusterInfo:
        return cls(
            name=str(item["name"]),
            kubernetes_api=str(item.get("kubernetesApi", "")),
            registry_host=str(item.get("registryHost", "")),
            registry_url=str(item.get("registryUrl", "")),
            registry_api_url=str(item.get("registryApiUrl", "")),
        )


@dataclass
class Session:
    name: str
    platform_url: str
    username: str
    token: str
    expires_at: str = ""
    clusters: list[ClusterInfo] = field(default_factory=list)
    current_cluster: str = ""
    certificate_authority_data: str = ""
    insecure_skip_tls_verify: bool = False

    def cluster(self, name: str) -> ClusterInfo | None:
        return next((c for c in self.clusters if c.name == name), None)

    def default_cluster(self) -> ClusterInfo | None:
        """The cluster used last, else `global`, else the first one."""
        for name in (self.current_cluster, "global"):
            found = self.cluster(name)
            if found is not None:
                return found
        return self.clusters[0] if self.clusters else None


@dataclass
class Current:
    """The current context, when it is one of ours."""

    context: str
    session: Session
    cluster: ClusterInfo
    namespace: str


def _extension(entry: Mapping[str, Any], name: str) -> dict[str, Any] | None:
    for ext in entry.get("extensions") or ():
        if isinstance(ext, Mapping) and ext.get("name") == name:
            value = ext.get("extension")
            return dict(value) if isinstance(value, Mapping) else None
    return None


class KubeConfig:
    def __init__(self, path: Path, data: dict[str, Any] | None = None) -> None:
        self.path = path
        self.data: dict[str, Any] = data if data is not None else {}
        self.data.setdefault("apiVersion", "v1")
        self.data.setdefault("kind", "Config")
        self.data.setdefault("preferences", {})
        for section in ("clusters", "users", "contexts"):
            if not isinstance(self.data.get(section), list):
                self.data[section] = []
        self.data.setdefault("current-context", "")

    # --- file ------------------------------------------------------------------------------

    @classmethod
    def load(cls, path: Path) -> KubeConfig:
        import yaml

        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return cls(path)
        except OSError as exc:
            raise CliError(f"cannot read the kubeconfig {path}: {exc.strerror}") from exc
        except UnicodeDecodeError as exc:
            raise CliError(
                f"the kubeconfig {path} is not a text file (not UTF-8); fix or move it and "
                "log in again"
            ) from exc
        try:
            data = yaml.safe_load(text) or {}
        except (yaml.YAMLError, RecursionError) as exc:
            raise CliError(
                f"the kubeconfig {path} is not valid YAML; fix or move it and log in again"
            ) from exc
        if not isinstance(data, dict):
            raise CliError(f"the kubeconfig {path} is not a kubeconfig; fix or move it")
        return cls(path, data)

    def save(self) -> None:
        """Write atomically with mode 0600: the file holds tokens."""
        import yaml

        text = yaml.safe_dump(self.data, sort_keys=False, default_flow_style=False)
        # A symlinked kubeconfig stays a symlink: write where it points.
        path = self.path.resolve() if self.path.is_symlink() else self.path
        directory = path.parent
        tmp = directory / f".{path.name}.{os.getpid()}.tmp"
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise CliError(f"cannot write the kubeconfig {self.path}: {exc.strerror}") from exc

    # --- raw named entries -----------------------------------------------------------------

    def _entry(self, section: str, name: str) -> dict[str, Any] | None:
        for item in self.data[section]:
            if isinstance(item, dict) and item.get("name") == name:
                return item
        return None

    def _put(self, section: str, name: str, key: str, value: dict[str, Any]) -> None:
        entry = self._entry(section, name)
        if entry is None:
            self.data[section].append({"name": name, key: value})
        else:
            entry[key] = value

    def _remove(self, section: str, names: set[str]) -> None:
        self.data[section] = [
            item
            for item in self.data[section]
            if not (isinstance(item, dict) and item.get("name") in names)
        ]

    def context(self, name: str) -> dict[str, Any] | None:
        entry = self._entry("contexts", name)
        return entry.get("context") if entry else None

    @property
    def current_context(self) -> str:
        return str(self.data.get("current-context") or "")

    # --- sessions --------------------------------------------------------------------------

    def session_names(self) -> list[str]:
        names = []
        for item in self.data["users"]:
            ext = _extension((item or {}).get("user") or {}, SESSION_EXTENSION)
            if ext and ext.get("session"):
                names.append(str(ext["session"]))
        return names

    def sessions(self) -> list[Session]:
        return [s for name in self.session_names() if (s := self.session(name)) is not None]

    def session(self, name: str) -> Session | None:
        user_item = self._entry("users", user_entry(name))
        user = (user_item or {}).get("user") or {}
        ext = _extension(user, SESSION_EXTENSION)
        if ext is None:
            return None
        session = Session(
            name=name,
            platform_url=str(ext.get("platformUrl", "")),
            username=str(ext.get("username", "")),
            token=str(user.get("token", "")),
            expires_at=str(ext.get("expiresAt", "")),
            current_cluster=str(ext.get("currentCluster", "")),
        )
        for item in self.data["clusters"]:
            cluster = (item or {}).get("cluster") or {}
            cext = _extension(cluster, CLUSTER_EXTENSION)
            if not cext or cext.get("session") != name:
                continue
            session.clusters.append(
                ClusterInfo(
                    name=str(cext.get("cluster", "")),
                    kubernetes_api=str(cluster.get("server", "")),
                    registry_host=str(cext.get("registryHost", "")),
                    registry_url=str(cext.get("registryUrl", "")),
                    registry_api_url=str(cext.get("registryApiUrl", "")),
                )
            )
            session.certificate_authority_data = str(cluster.get("certificate-authority-data", ""))
            session.insecure_skip_tls_verify = bool(cluster.get("insecure-skip-tls-verify"))
        return session

    def put_session(self, session: Session) -> None:
        """Add or replace a session's user, cluster and context entries. Namespaces chosen
        in existing contexts are kept; clusters the platform no longer lists are dropped."""
        namespaces = self._context_namespaces(session.name)
        current = self.current_context
        self._drop_session(session.name)
        self.data["current-context"] = current
        self._put(
            "users",
            user_entry(session.name),
            "user",
            {
                "token": session.token,
                "extensions": [
                    {
                        "name": SESSION_EXTENSION,
                        "extension": {
                            "session": session.name,
                            "platformUrl": session.platform_url,
                            "username": session.username,
                            "expiresAt": session.expires_at,
                            "currentCluster": session.current_cluster,
                        },
                    }
                ],
            },
        )
        for info in session.clusters:
            cluster: dict[str, Any] = {"server": info.kubernetes_api}
            if session.certificate_authority_data:
                cluster["certificate-authority-data"] = session.certificate_authority_data
            if session.insecure_skip_tls_verify:
                cluster["insecure-skip-tls-verify"] = True
            cluster["extensions"] = [
                {
                    "name": CLUSTER_EXTENSION,
                    "extension": {
                        "session": session.name,
                        "cluster": info.name,
                        "registryHost": info.registry_host,
                        "registryUrl": info.registry_url,
                        "registryApiUrl": info.registry_api_url,
                    },
                }
            ]
            self._put("clusters", cluster_entry(session.name, info.name), "cluster", cluster)
            context: dict[str, Any] = {
                "cluster": cluster_entry(session.name, info.name),
                "user": user_entry(session.name),
            }
            if namespaces.get(info.name):
                context["namespace"] = namespaces[info.name]
            self._put("contexts", context_name(session.name, info.name), "context", context)

    def remove_session(self, name: str) -> bool:
        """Remove every entry of a session; True when there was one."""
        return self._drop_session(name)

    def _session_contexts(self, name: str) -> set[str]:
        return {
            str(item.get("name"))
            for item in self.data["contexts"]
            if isinstance(item, dict)
            and ((item.get("context") or {}).get("user") == user_entry(name))
        }

    def _context_namespaces(self, name: str) -> dict[str, str]:
        """cluster -> namespace chosen in the session's contexts."""
        prefix = f"{name}/"
        kept = {}
        for context in self._session_contexts(name):
            namespace = (self.context(context) or {}).get("namespace")
            if context.startswith(prefix) and namespace:
                kept[context[len(prefix) :]] = str(namespace)
        return kept

    def _drop_session(self, name: str) -> bool:
        clusters = {
            str(item.get("name"))
            for item in self.data["clusters"]
            if isinstance(item, dict)
            and (_extension(item.get("cluster") or {}, CLUSTER_EXTENSION) or {}).get("session")
            == name
        }
        contexts = self._session_contexts(name)
        found = bool(clusters or contexts or self._entry("users", user_entry(name)))
        self._remove("users", {user_entry(name)})
        self._remove("clusters", clusters)
        self._remove("contexts", contexts)
        if self.current_context in contexts:
            self.data["current-context"] = ""
        return found

    # --- the current context ---------------------------------------------------------------

    def resolve(self, context: str | None = None) -> Current | None:
        """The named (or current) context, when it belongs to an `ac` session."""
        name = context or self.current_context
        ctx = self.context(name) if name else None
        if not ctx:
            return None
        user_name = str(ctx.get("user", ""))
        if not user_name.startswith("acp:"):
            return None
        session = self.session(user_name[len("acp:") :])
        if session is None:
            return None
        cluster_name = str(ctx.get("cluster", ""))
        prefix = f"acp:{session.name}:"
        cluster = (
            session.cluster(cluster_name[len(prefix) :])
            if cluster_name.startswith(prefix)
            else None
        )
        if cluster is None:
            return None
        return Current(name, session, cluster, str(ctx.get("namespace") or ""))

    def use(self, session: str, cluster: str) -> None:
        """Make `<session>/<cluster>` current and remember the cluster for the session."""
        self.data["current-context"] = context_name(session, cluster)
        user_item = self._entry("users", user_entry(session)) or {}
        for ext in (user_item.get("user") or {}).get("extensions") or ():
            if ext.get("name") == SESSION_EXTENSION and isinstance(ext.get("extension"), dict):
                ext["extension"]["currentCluster"] = cluster

    def set_namespace(self, context: str, namespace: str) -> None:
        ctx = self.context(context)
        if ctx is not None:
            ctx["namespace"] = namespace
