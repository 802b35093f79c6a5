"""`acp-server`: migrate, bootstrap, bind the listeners, then serve with N worker processes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import click

from acp import __version__
from acp.server.settings import (
    DEFAULT_LISTEN,
    Settings,
    SettingsError,
    build_clusters,
    parse_hostport,
)

log = logging.getLogger("acp.server")
F = TypeVar("F", bound=Callable[..., Any])

SHUTDOWN_SECONDS = 30.0


def _option(*names: str, **kwargs: Any) -> Callable[[F], F]:
    """A click option that can also be set by its ACP_* environment variable."""
    env = "ACP_" + names[0].lstrip("-").replace("-", "_").upper()
    return click.option(*names, envvar=env, show_envvar=True, **kwargs)


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@_option("--listen", default=DEFAULT_LISTEN, show_default=True, help="HOST:PORT to serve on.")
@_option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("acp-data"),
    show_default=True,
    help="Directory for the SQLite database, blobs and runtime state.",
)
@_option("--database-url", default="", help="SQLite path or postgresql://user@host/db.")
@_option("--storage", default="", help="Blob storage directory (default: DATA_DIR/blobs).")
@_option("--public-url", default="", help="URL clients use to reach this server.")
@_option("--tls-cert", type=click.Path(dir_okay=False, path_type=Path), default=None)
@_option("--tls-key", type=click.Path(dir_okay=False, path_type=Path), default=None)
@_option(
    "--tls",
    "tls_mode",
    type=click.Choice(["self-signed"]),
    default=None,
    help="Create a local CA and a server certificate in DATA_DIR/tls and serve HTTPS.",
)
@_option(
    "--workers",
    type=click.IntRange(0, 64),
    default=0,
    show_default=True,
    help="Worker processes sharing the listeners; 0 means one per CPU core.",
)
@_option(
    "--cluster",
    "clusters",
    multiple=True,
    metavar="NAME[=HOST:PORT]",
    help="Add a cluster with its own registry endpoint (repeatable).",
)
@_option("--log-format", type=click.Choice(["json", "text"]), default="json", show_default=True)
@click.version_option(__version__, prog_name="acp-server")
def main(
    listen: str,
    data_dir: Path,
    database_url: str,
    storage: str,
    public_url: str,
    tls_cert: Path | None,
    tls_key: Path | None,
    tls_mode: str | None,
    workers: int,
    clusters: tuple[str, ...],
    log_format: str,
) -> None:
    """Run ACP Registry: platform API, Kubernetes-compatible RBAC API and OCI registry."""
    from acp.server import logs

    logs.configure(log_format)
    try:
        host, port = parse_hostport(listen, what="--listen")
        if (tls_cert is None) != (tls_key is None):
            raise SettingsError("--tls-cert and --tls-key must be given together")
        if tls_mode and tls_cert:
            raise SettingsError("give either --tls=self-signed or --tls-cert/--tls-key")
        cluster_specs = [c for spec in clusters for c in spec.replace(",", " ").split()]
        settings = Settings(
            host=host,
            port=port,
            data_dir=data_dir.resolve(),
            database_url=database_url,
            storage=storage,
            public_url=public_url,
            tls_cert=tls_cert,
            tls_key=tls_key,
            workers=workers or os.cpu_count() or 1,
            clusters=build_clusters(host, port, cluster_specs),
            log_format=log_format,
        )
        settings.blob_dir  # noqa: B018 - validates --storage early
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from exc
    _prepare_data_dir(settings)
    if tls_mode == "self-signed":
        settings = _self_signed(settings)
    generated = asyncio.run(_migrate_and_bootstrap(settings))
    sockets = [_bind(settings.host, settings.port)] + [
        _bind(c.host, c.port) for c in settings.clusters if not c.on_main_listener
    ]
    _announce(settings, generated)
    if settings.workers == 1:
        _run_worker(settings, sockets)
    else:
        _supervise(settings, sockets)


def _self_signed(settings: Settings) -> Settings:
    from urllib.parse import urlsplit

    from acp.server.tls import ensure_self_signed

    names = ["localhost", "127.0.0.1", "::1"]
    for host in [settings.host, *(c.host for c in settings.clusters)]:
        if host not in ("0.0.0.0", "::", ""):
            names.insert(0, host)
        else:
            names.append(socket.gethostname())
    if settings.public_url:
        names.insert(0, urlsplit(settings.public_url).hostname or "localhost")
    files = ensure_self_signed(settings.data_dir / "tls", list(dict.fromkeys(names)))
    return replace(
        settings, tls_cert=files.server_cert, tls_key=files.server_key, tls_ca=files.ca_cert
    )


def _prepare_data_dir(settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    settings.run_dir.mkdir(exist_ok=True, mode=0o700)
    metrics_dir = settings.run_dir / "metrics"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    from acp.storage.filesystem import recover_interrupted_sweep

    # Blobs a garbage collection killed mid-sweep had set aside are served again at once.
    if restored := recover_interrupted_sweep(settings.blob_dir):
        logging.getLogger("acp.registry").warning(
            "put back %d blob files an interrupted garbage collection had set aside", restored
        )


async def _migrate_and_bootstrap(settings: Settings) -> str | None:
    from acp.db.bootstrap import bootstrap, ensure_installation
    from acp.db.engine import Database
    from acp.db.migrate import upgrade
    from acp.storage.filesystem import mark_installation

    db = Database(settings.effective_database_url)
    try:
        await upgrade(db)
        generated = await bootstrap(db, [c.name for c in settings.clusters], settings.data_dir)
        mark_installation(settings.blob_dir, await ensure_installation(db))
        return generated
    finally:
        await db.dispose()


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


def _ac_command() -> str:
    """How to run `ac` from here: its name when it is the one on PATH, else the full path of
    the `ac` installed next to this server (e.g. inside a virtualenv)."""
    beside = Path(sys.argv[0]).resolve().with_name("ac")
    if not beside.is_file():
        beside = Path(sys.executable).with_name("ac")
    on_path = shutil.which("ac")
    if on_path and (not beside.is_file() or Path(on_path).resolve() == beside.resolve()):
        return "ac"
    return str(beside) if beside.is_file() else "ac"


def _admin_password_note(settings: Settings, generated_password: str | None) -> list[str]:
    from acp.db.bootstrap import ADMIN_PASSWORD_FILE

    saved = settings.data_dir / ADMIN_PASSWORD_FILE
    if generated_password:
        return [
            f"Created user 'admin' with password: {generated_password}",
            f"  (saved, readable only by you, in {saved})",
        ]
    if saved.is_file():
        return [f"Admin user: admin; its first password is in {saved}"]
    if os.environ.get("ACP_ADMIN_PASSWORD"):
        return ["Admin user: admin; password from ACP_ADMIN_PASSWORD"]
    return ["Admin user: admin (password chosen at the first start)"]


def _client_cert_dir(ca_cert: Path) -> Path:
    """A directory holding only the CA certificate, for podman/skopeo/buildah --cert-dir
    (the TLS directory itself holds keys, which they would take for client keys)."""
    directory = ca_cert.parent / "client"
    directory.mkdir(mode=0o755, exist_ok=True)
    target = directory / "ca.crt"
    if not target.is_file() or target.read_bytes() != ca_cert.read_bytes():
        shutil.copyfile(ca_cert, target)
    return directory


def _announce(settings: Settings, generated_password: str | None) -> None:
    url = settings.base_url
    registry = url.split("://", 1)[1].split("/", 1)[0]
    lines = [f"ACP Registry {__version__} listening on {url}"]
    for cluster in settings.clusters:
        if not cluster.on_main_listener:
            lines.append(f"  cluster {cluster.name}: registry on {cluster.host}:{cluster.port}")
    ac = _ac_command()
    login = f"{ac} login {url} -u admin"
    oci_login = f"podman login --tls-verify=false {registry}"
    if settings.tls_ca is not None:
        from acp.server.tls import trust_instructions

        hosts = [f"{c.host}:{c.port}" for c in settings.clusters]
        lines += trust_instructions(settings.tls_ca, hosts)
        login += f" --certificate-authority {settings.tls_ca}"
        oci_login = f"podman login --cert-dir {_client_cert_dir(settings.tls_ca)} {registry}"
    elif settings.tls_enabled:
        oci_login = f"podman login {registry}"
    lines += _admin_password_note(settings, generated_password)
    lines += [
        "Next, in another terminal:",
        f"  {login}",
        f"  {ac} create namespace my-ns",
        f"  {oci_login} -u admin",
        f"Then push to {registry}/my-ns/NAME:TAG; see docs/quickstart.md.",
    ]
    print("\n".join(lines), flush=True)


def _run_worker(settings: Settings, sockets: list[socket.socket]) -> None:
    import uvloop

    uvloop.run(_serve(settings, sockets))


async def _serve(settings: Settings, sockets: list[socket.socket]) -> None:
    from aiohttp import web

    from acp.server.app import build_app
    from acp.server.context import create_context
    from acp.server.middleware import IN_FLIGHT, AccessLogger
    from acp.server.tls import server_ssl_context

    ctx = await create_context(settings)
    app = build_app(ctx)
    runner = web.AppRunner(
        app,
        handle_signals=False,
        access_log_class=AccessLogger,
        access_log=logging.getLogger("acp.access"),
        shutdown_timeout=SHUTDOWN_SECONDS,
    )
    await runner.setup()
    ssl_context = server_ssl_context(settings)
    sites = [web.SockSite(runner, sock, ssl_context=ssl_context) for sock in sockets]
    for site in sites:
        await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    in_flight = app[IN_FLIGHT]
    log.info("shutting down: draining %d in-flight requests", in_flight.count)
    for site in sites:
        await site.stop()  # no new connections; open ones keep being served
    try:
        async with asyncio.timeout(SHUTDOWN_SECONDS):
            await in_flight.wait_idle()
    except TimeoutError:
        log.warning(
            "%d requests still running after %ss; closing", in_flight.count, SHUTDOWN_SECONDS
        )
    await runner.cleanup()


def _supervise(settings: Settings, sockets: list[socket.socket]) -> None:
    """Fork the workers, restart any that die, and pass SIGTERM on for a clean drain."""
    children: dict[int, int] = {}
    stopping = False

    # SIGTERM/SIGINT stay blocked while forking: a signal arriving between fork() and the
    # bookkeeping below would otherwise miss the new worker (or run the supervisor's handler
    # inside it), and the server would never stop.
    stop_signals = {signal.SIGTERM, signal.SIGINT}

    def spawn(slot: int) -> None:
        signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
        try:
            if stopping:
                return
            pid = os.fork()
            if pid == 0:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                signal.pthread_sigmask(signal.SIG_UNBLOCK, stop_signals)
                worker_main(slot)
            children[pid] = slot
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, stop_signals)

    def worker_main(slot: int) -> None:
        code = 0
        try:
            _run_worker(settings, sockets)
        except BaseException:
            log.exception("worker %d failed", slot)
            code = 1
        finally:
            os._exit(code)

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    from acp.auth import verified

    verified.shared()  # created before the forks, so that every worker shares it
    for slot in range(settings.workers):
        spawn(slot)
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        slot = children.pop(pid, -1)
        if slot >= 0 and not stopping:
            log.error("worker %d (pid %d) exited with status %d; restarting", slot, pid, status)
            time.sleep(0.5)
            spawn(slot)
    sys.exit(0)


if __name__ == "__main__":
    main()
