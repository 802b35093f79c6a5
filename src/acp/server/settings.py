"""Server settings: one immutable object built from flags and ACP_* environment variables."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_LISTEN = "127.0.0.1:5000"
DEFAULT_CLUSTER = "global"


class SettingsError(ValueError):
    """A flag or environment variable has a value the server cannot use."""


def parse_hostport(value: str, *, what: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise SettingsError(f"{what} must look like HOST:PORT, got {value!r}")
    return host.strip("[]"), int(port)


@dataclass(frozen=True)
class ClusterConfig:
    """A cluster and the address its OCI registry endpoint listens on."""

    name: str
    host: str
    port: int
    # True when the cluster's registry is served on the main listener.
    on_main_listener: bool = False


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 5000
    data_dir: Path = Path("./acp-data")
    database_url: str = ""
    storage: str = ""
    public_url: str = ""
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # The local CA behind a `--tls=self-signed` certificate, for the start-up instructions.
    tls_ca: Path | None = None
    workers: int = 1
    clusters: tuple[ClusterConfig, ...] = ()
    admin_password: str | None = None
    session_ttl_seconds: int = 12 * 3600
    registry_token_ttl_seconds: int = 300
    manifest_max_bytes: int = 4 * 1024 * 1024
    upload_expiry_seconds: int = 24 * 3600
    log_format: str = "json"
    # Extra knobs for tests and operators; never secrets.
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def tls_enabled(self) -> bool:
        return self.tls_cert is not None

    @property
    def scheme(self) -> str:
        return "https" if self.tls_enabled else "http"

    @property
    def base_url(self) -> str:
        """The URL clients use to reach the main listener."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        if ":" in host:
            host = f"[{host}]"
        return f"{self.scheme}://{host}:{self.port}"

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "acp.db"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            url = self.database_url
            if url.startswith(("postgresql://", "postgres://")):
                return "postgresql+asyncpg://" + url.split("://", 1)[1]
            if url.startswith("sqlite:///") and "+aiosqlite" not in url:
                return url.replace("sqlite:///", "sqlite+aiosqlite:///", 1)
            if "://" not in url:  # a bare path means a SQLite file
                return f"sqlite+aiosqlite:///{Path(url).resolve()}"
            return url
        return f"sqlite+aiosqlite:///{self.sqlite_path.resolve()}"

    @property
    def blob_dir(self) -> Path:
        if self.storage:
            if "://" in self.storage and not self.storage.startswith("file://"):
                raise SettingsError(
                    f"storage {self.storage!r} is not supported yet; give a directory path"
                )
            return Path(self.storage.removeprefix("file://"))
        return self.data_dir / "blobs"

    @property
    def run_dir(self) -> Path:
        """Per-installation runtime state shared by the worker processes of one host."""
        return self.data_dir / "run"

    def cluster(self, name: str) -> ClusterConfig | None:
        return next((c for c in self.clusters if c.name == name), None)


def build_clusters(host: str, port: int, specs: list[str]) -> tuple[ClusterConfig, ...]:
    """`global` always exists on the main listener; `NAME[=HOST:PORT]` adds more.

    A cluster given without an address gets the main host and the main port plus its
    position (1, 2, …), so a bare `--cluster dev` is still reachable by OCI clients.
    """
    clusters = [ClusterConfig(DEFAULT_CLUSTER, host, port, on_main_listener=True)]
    for index, spec in enumerate(s for s in specs if s.split("=", 1)[0] != DEFAULT_CLUSTER):
        name, sep, address = spec.partition("=")
        validate_cluster_name(name)
        if any(c.name == name for c in clusters):
            raise SettingsError(f"cluster {name!r} is given twice")
        if sep:
            c_host, c_port = parse_hostport(address, what=f"--cluster {name}")
        else:
            c_host, c_port = host, port + index + 1
        if any((c.host, c.port) == (c_host, c_port) for c in clusters):
            raise SettingsError(f"cluster {name!r} would share the address {c_host}:{c_port}")
        clusters.append(ClusterConfig(name, c_host, c_port))
    return tuple(clusters)


def validate_cluster_name(name: str) -> None:
    import re

    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", name):
        raise SettingsError(
            f"cluster name {name!r} is invalid: use lower-case letters, digits and '-'"
        )
