"""The workloads of issue 6, each run against every selected target in the same run.

Repetitions are interleaved across targets (rep 1 on every target, then rep 2, ...) so that
background noise spreads evenly instead of hitting one registry's samples.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import loadgen
from .client import (
    MANIFEST_ACCEPT,
    Connection,
    RegistryError,
    location_path,
    mount_blob,
    push_blob,
    put_manifest,
    upload_chunked,
    upload_monolithic,
)
from .data import BlobFile, SmallImage, build_oci_layout, layout_manifest_digest, small_image
from .procmon import RssSampler
from .report import Results
from .targets import Target

MIB = 1024 * 1024


@dataclass
class Options:
    repetitions: int = 3
    blob_size: int = 1024 * MIB
    chunk_size: int = 16 * MIB
    image_size: int = 200 * MIB
    image_layers: int = 3
    tags: int = 1000
    repositories: int = 1000
    pushes: int = 20
    push_layer_size: int = 256 * 1024
    concurrencies: tuple[int, ...] = (1, 16, 64)
    duration: float = 2.0
    list_connections: int = 16
    setup_threads: int = 8
    #: Credential our server is measured with outside the manifest workloads.
    ours_auth: str = "basic"


@dataclass
class Context:
    opts: Options
    workdir: Path
    results: Results
    blob: BlobFile | None = None
    download_buf: memoryview | None = None
    #: The blob each target holds for the download workload: target name -> (repo, digest).
    last_blob: dict[str, tuple[str, str]] = field(default_factory=dict)

    def log(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    def scheme(self, target: Target) -> str:
        """The credential a workload measures `target` with."""
        if target.name == "ours":
            return self.opts.ours_auth
        return target.auth_schemes[0]

    def connect(
        self, target: Target, scopes: list[str] | None = None, scheme: str | None = None
    ) -> Connection:
        return target.connect(scheme or self.scheme(target), scopes)

    def fail(self, workload: str, target: Target, exc: BaseException) -> None:
        message = f"{type(exc).__name__}: {exc}"
        self.log(f"  ! {workload} on {target.name}: {message}")
        self.results.error(workload, target.name, message)


def size_label(size: int) -> str:
    for unit, factor in (("GiB", 1024 * MIB), ("MiB", MIB), ("KiB", 1024)):
        if size >= factor and size % factor == 0:
            return f"{size // factor} {unit}"
    return f"{size} B"


def push_scopes(*repos: str) -> list[str]:
    return [f"repository:{repo}:pull,push" for repo in repos]


def interleaved(
    ctx: Context,
    workload: str,
    targets: list[Target],
    setup: Callable[[Target], None],
    measure: Callable[[Target, int], None],
) -> None:
    """Set up each target once, then measure rep by rep; a target that fails drops out."""
    alive: list[Target] = []
    for target in targets:
        try:
            setup(target)
            alive.append(target)
        except Exception as exc:
            ctx.fail(workload, target, exc)
    for rep in range(ctx.opts.repetitions):
        for target in list(alive):
            try:
                measure(target, rep)
            except Exception as exc:
                ctx.fail(workload, target, exc)
                alive.remove(target)


def parallel(
    ctx: Context,
    target: Target,
    items: list[Any],
    work: Callable[[Connection, Any], None],
    scopes: list[str] | None = None,
) -> None:
    """Run `work` over `items` on a few connections at once (setup only, not measured)."""
    threads = max(1, min(ctx.opts.setup_threads, len(items)))
    errors: list[BaseException] = []

    def worker(part: list[Any]) -> None:
        try:
            with ctx.connect(target, scopes, scheme=target.auth_schemes[0]) as conn:
                for item in part:
                    work(conn, item)
        except BaseException as exc:
            errors.append(exc)

    pool = [threading.Thread(target=worker, args=(items[i::threads],)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    if errors:
        raise errors[0]


def push_small_image(conn: Connection, repo: str, image: SmallImage, tag: str) -> str:
    push_blob(conn, repo, image.config)
    for layer in image.layers:
        push_blob(conn, repo, layer)
    return put_manifest(conn, repo, tag, image.manifest)


# --- blob uploads and downloads -----------------------------------------------------------


def _record_memory(ctx: Context, workload: str, target: Target, sampler: RssSampler) -> None:
    mem = sampler.report()
    ctx.results.add(
        key=f"rss-{workload}",
        title=f"server RSS growth, {workload}",
        unit="MiB",
        better="lower",
        target=target.name,
        auth=ctx.scheme(target),
        value=round(mem.growth_mib, 1),
        baseline_mib=round(mem.baseline_mib, 1),
        peak_mib=round(mem.peak_mib, 1),
    )


def _upload(ctx: Context, targets: list[Target], *, chunked: bool) -> None:
    workload = "upload-chunked" if chunked else "upload-monolithic"
    blob = ctx.blob
    assert blob is not None
    if chunked:
        how = f"chunked (PATCH {size_label(ctx.opts.chunk_size)})"
    else:
        how = "monolithic (POST+PUT)"
    title = f"blob upload {size_label(blob.size)} {how}"
    conns: dict[str, Connection] = {}

    def setup(target: Target) -> None:
        conns[target.name] = ctx.connect(target, push_scopes(target.repo("blob")))

    def measure(target: Target, rep: int) -> None:
        repo = target.repo("blob")
        digest = blob.vary(f"{workload}/{target.name}/{rep}")
        conn = conns[target.name]
        with RssSampler(target.pid) as sampler:
            start = time.perf_counter()
            if chunked:
                upload_chunked(conn, repo, blob.file, blob.size, digest, ctx.opts.chunk_size)
            else:
                upload_monolithic(conn, repo, blob.file, blob.size, digest)
            elapsed = time.perf_counter() - start
        rate = blob.size / MIB / elapsed
        ctx.log(f"  {workload} {target.name} #{rep + 1}: {rate:,.0f} MiB/s")
        ctx.results.add(
            key=workload,
            title=title,
            unit="MiB/s",
            better="higher",
            target=target.name,
            auth=ctx.scheme(target),
            value=round(rate, 1),
            limit="upload",
            seconds=round(elapsed, 3),
            digest=digest,
        )
        _record_memory(ctx, workload, target, sampler)
        ctx.last_blob[target.name] = (repo, digest)

    try:
        interleaved(ctx, workload, targets, setup, measure)
    finally:
        for conn in conns.values():
            conn.close()


def upload_monolithic_workload(ctx: Context, targets: list[Target]) -> None:
    _upload(ctx, targets, chunked=False)


def upload_chunked_workload(ctx: Context, targets: list[Target]) -> None:
    _upload(ctx, targets, chunked=True)


def download_workload(ctx: Context, targets: list[Target]) -> None:
    workload = "download"
    blob, buf = ctx.blob, ctx.download_buf
    assert blob is not None
    assert buf is not None
    conns: dict[str, Connection] = {}

    def setup(target: Target) -> None:
        conn = conns[target.name] = ctx.connect(target, push_scopes(target.repo("blob")))
        if target.name not in ctx.last_blob:
            repo = target.repo("blob")
            digest = blob.vary(f"download/{target.name}")
            upload_monolithic(conn, repo, blob.file, blob.size, digest)
            ctx.last_blob[target.name] = (repo, digest)
        # One unmeasured GET: the workload measures serving a page-cached blob, as the
        # loopback limit does. ACP writes uploads around the page cache (O_DIRECT), so its
        # first read of a large fresh blob would measure the disk instead.
        repo, digest = ctx.last_blob[target.name]
        conn.get_into(f"/v2/{repo}/blobs/{digest}", buf)

    def measure(target: Target, rep: int) -> None:
        repo, digest = ctx.last_blob[target.name]
        with RssSampler(target.pid) as sampler:
            start = time.perf_counter()
            _, got = conns[target.name].get_into(f"/v2/{repo}/blobs/{digest}", buf)
            elapsed = time.perf_counter() - start
        # Hashing after the clock stops keeps the client's sha256 out of the figure.
        if got != blob.size:
            raise RegistryError(f"download returned {got} of {blob.size} bytes", 200)
        actual = "sha256:" + hashlib.sha256(buf[:got]).hexdigest()
        if actual != digest:
            raise RegistryError(f"download digest {actual} != {digest}", 200)
        rate = got / MIB / elapsed
        ctx.log(f"  {workload} {target.name} #{rep + 1}: {rate:,.0f} MiB/s")
        ctx.results.add(
            key=workload,
            title=f"blob download {size_label(blob.size)} (GET)",
            unit="MiB/s",
            better="higher",
            target=target.name,
            auth=ctx.scheme(target),
            value=round(rate, 1),
            limit="download",
            seconds=round(elapsed, 3),
        )
        _record_memory(ctx, workload, target, sampler)

    try:
        interleaved(ctx, workload, targets, setup, measure)
    finally:
        for conn in conns.values():
            conn.close()


# --- request-rate workloads --------------------------------------------------------------


def _url(target: Target, path: str) -> str:
    return f"http://{target.host}:{target.port}{path}"


def _auth_headers(target: Target, scheme: str, scopes: list[str]) -> dict[str, str]:
    value = target.authorization(scheme, scopes)
    return {"Authorization": value} if value else {}


def manifest_workload(ctx: Context, targets: list[Target]) -> None:
    """GET and HEAD of one manifest by tag, with every credential kind the target accepts."""
    workload = "manifest"
    image = small_image("manifest")
    ready: list[Target] = []
    for target in targets:
        repo = target.repo("manifest")
        try:
            with ctx.connect(target, push_scopes(repo), scheme=target.auth_schemes[0]) as conn:
                push_small_image(conn, repo, image, "v1")
            for scheme in target.auth_schemes:
                with target.connect(scheme, [f"repository:{repo}:pull"]) as conn:
                    resp = conn.request(
                        "GET", f"/v2/{repo}/manifests/v1", headers={"Accept": MANIFEST_ACCEPT}
                    )
                if resp.status != 200 or resp.body != image.manifest:
                    raise RegistryError(f"GET manifest with {scheme}", resp.status, resp.body)
            ready.append(target)
        except Exception as exc:
            ctx.fail(workload, target, exc)
    broken: set[tuple[str, str]] = set()
    for rep in range(ctx.opts.repetitions):
        for method in ("GET", "HEAD"):
            for conns in ctx.opts.concurrencies:
                for target in ready:
                    for scheme in target.auth_schemes:
                        if (target.name, scheme) in broken:
                            continue
                        repo = target.repo("manifest")
                        try:
                            headers = _auth_headers(target, scheme, [f"repository:{repo}:pull"])
                            headers["Accept"] = MANIFEST_ACCEPT
                            url = _url(target, f"/v2/{repo}/manifests/v1")
                            load = loadgen.run_load(method, url, headers, conns, ctx.opts.duration)
                        except Exception as exc:
                            ctx.fail(f"{workload} {method} [{scheme}]", target, exc)
                            broken.add((target.name, scheme))
                            continue
                        ctx.log(
                            f"  manifest {method} c={conns} {target.name} [{scheme}] "
                            f"#{rep + 1}: {load.requests_per_s:,.0f} req/s"
                        )
                        ctx.results.add(
                            key=f"manifest-{method.lower()}-c{conns}",
                            title=f"manifest {method} by tag, {conns} conn",
                            unit="req/s",
                            better="higher",
                            target=target.name,
                            auth=scheme,
                            value=round(load.requests_per_s, 1),
                            tool=load.tool,
                            requests=load.requests,
                            latency_ms=load.latency_ms,
                        )


def _count_pages(
    conn: Connection, path: str, key: str, scheme_headers: dict[str, str]
) -> tuple[int, int]:
    """Entries and pages of a listing, following Link headers as a client must."""
    entries = pages = 0
    next_path: str | None = path
    while next_path:
        resp = conn.request("GET", next_path, headers=scheme_headers)
        if resp.status != 200:
            raise RegistryError(f"GET {next_path}", resp.status, resp.body)
        entries += len(resp.json().get(key) or [])
        pages += 1
        link = resp.header("Link")
        next_path = location_path(link.split(";")[0].strip("<> ")) if link else None
    return entries, pages


def _listing_rate(
    ctx: Context,
    workload: str,
    title: str,
    target: Target,
    rep: int,
    path: str,
    scopes: list[str],
    details: dict[str, Any],
) -> None:
    scheme = ctx.scheme(target)
    headers = _auth_headers(target, scheme, scopes)
    load = loadgen.run_wrk(
        _url(target, path), headers, ctx.opts.list_connections, ctx.opts.duration
    )
    ctx.log(f"  {workload} {target.name} #{rep + 1}: {load.requests_per_s:,.0f} req/s")
    ctx.results.add(
        key=workload,
        title=title,
        unit="req/s",
        better="higher",
        target=target.name,
        auth=scheme,
        value=round(load.requests_per_s, 1),
        requests=load.requests,
        latency_ms=load.latency_ms,
        **details,
    )


def tags_list_workload(ctx: Context, targets: list[Target]) -> None:
    workload = "tags-list"
    count = ctx.opts.tags
    title = f"tags/list, {count} tags, {ctx.opts.list_connections} conn"
    base = small_image("tags")
    found: dict[str, dict[str, Any]] = {}

    def setup(target: Target) -> None:
        repo = target.repo("tags")
        with ctx.connect(target, push_scopes(repo), scheme=target.auth_schemes[0]) as conn:
            for blob in (base.config, *base.layers):
                push_blob(conn, repo, blob)

        def tag(conn: Connection, i: int) -> None:
            # Distinct manifests, as a repository of real builds has.
            body = base.manifest[:-1] + f',"annotations":{{"build":"{i}"}}}}'.encode()
            put_manifest(conn, repo, f"t{i:04d}", body)

        parallel(ctx, target, list(range(count)), tag, push_scopes(repo))
        with ctx.connect(target, [f"repository:{repo}:pull"]) as conn:
            entries, pages = _count_pages(conn, f"/v2/{repo}/tags/list", "tags", {})
        if entries != count:
            raise RegistryError(f"tags/list listed {entries} tags, expected {count}", 200)
        found[target.name] = {"tags": entries, "pages_without_n": pages}

    def measure(target: Target, rep: int) -> None:
        repo = target.repo("tags")
        _listing_rate(
            ctx,
            workload,
            title,
            target,
            rep,
            f"/v2/{repo}/tags/list",
            [f"repository:{repo}:pull"],
            found[target.name],
        )

    interleaved(ctx, workload, targets, setup, measure)


def catalog_workload(ctx: Context, targets: list[Target]) -> None:
    workload = "catalog"
    count = ctx.opts.repositories
    title = f"_catalog?n={count}, {count} repos, {ctx.opts.list_connections} conn"
    base = small_image("catalog", (512,))
    found: dict[str, dict[str, Any]] = {}
    path = f"/v2/_catalog?n={count}"

    def setup(target: Target) -> None:
        source = target.repo("catalog-base")
        with ctx.connect(target, push_scopes(source), scheme=target.auth_schemes[0]) as conn:
            push_small_image(conn, source, base, "v1")

        def create(conn: Connection, i: int) -> None:
            repo = target.repo(f"cat/r{i:04d}")
            mount_blob(conn, repo, base.config, source)
            for layer in base.layers:
                mount_blob(conn, repo, layer, source)
            put_manifest(conn, repo, "v1", base.manifest)

        # Token scopes cannot name a thousand repositories: setup uses the default credential.
        parallel(ctx, target, list(range(count)), create)
        with ctx.connect(target, ["registry:catalog:*"]) as conn:
            resp = conn.request("GET", path)
        if resp.status != 200:
            raise RegistryError(f"GET {path}", resp.status, resp.body)
        listed = len(resp.json().get("repositories") or [])
        if listed != count:
            raise RegistryError(f"{path} listed {listed} repositories, expected {count}", 200)
        found[target.name] = {"repositories": listed, "paginated": bool(resp.header("Link"))}

    def measure(target: Target, rep: int) -> None:
        _listing_rate(
            ctx, workload, title, target, rep, path, ["registry:catalog:*"], found[target.name]
        )

    interleaved(ctx, workload, targets, setup, measure)


# --- whole-image workloads ---------------------------------------------------------------


def _skopeo(args: list[str], timeout: float = 600) -> float:
    skopeo = shutil.which("skopeo")
    if not skopeo:
        raise RuntimeError("`skopeo` not found; install it with `apt-get install skopeo`")
    cmd = [skopeo, "--insecure-policy", "copy", "--quiet", *args]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"skopeo copy failed: {proc.stderr.strip()[-800:]}")
    return elapsed


def skopeo_workload(ctx: Context, targets: list[Target]) -> None:
    workload = "skopeo"
    opts = ctx.opts
    images = ctx.workdir / "images"
    layouts: dict[int, tuple[Path, str]] = {}
    label = f"{size_label(opts.image_size)}, {opts.image_layers} layers"

    def layout(rep: int) -> tuple[Path, str]:
        # A new image per repetition: skopeo skips blobs a registry already has.
        if rep not in layouts:
            path = images / f"r{rep}"
            digest = build_oci_layout(path, opts.image_size, opts.image_layers, f"skopeo/{rep}")
            layouts[rep] = (path, digest)
        return layouts[rep]

    def setup(target: Target) -> None:
        pass

    def measure(target: Target, rep: int) -> None:
        path, digest = layout(rep)
        ref = f"docker://{target.registry}/{target.repo('skopeo')}:r{rep}"
        creds = f"{target.username}:{target.password}"
        push = _skopeo(
            [f"--dest-creds={creds}", "--dest-tls-verify=false", f"oci:{path}:latest", ref]
        )
        out = ctx.workdir / f"pulled-{target.name}-{rep}"
        pull = _skopeo([f"--src-creds={creds}", "--src-tls-verify=false", ref, f"oci:{out}:latest"])
        pulled = layout_manifest_digest(out)
        shutil.rmtree(out)
        if pulled != digest:
            raise RegistryError(f"skopeo pulled manifest {pulled}, pushed {digest}", 200)
        ctx.log(f"  skopeo {target.name} #{rep + 1}: push {push:.2f} s, pull {pull:.2f} s")
        for key, what, seconds in (("skopeo-push", "push", push), ("skopeo-pull", "pull", pull)):
            ctx.results.add(
                key=key,
                title=f"skopeo {what} {label}",
                unit="s",
                better="lower",
                target=target.name,
                auth="client default",
                value=round(seconds, 3),
            )

    try:
        interleaved(ctx, workload, [t for t in targets if not t.reference_only], setup, measure)
    finally:
        shutil.rmtree(images, ignore_errors=True)


def concurrent_push_workload(ctx: Context, targets: list[Target]) -> None:
    workload = "concurrent-push"
    opts = ctx.opts
    sizes = (opts.push_layer_size, opts.push_layer_size)
    title = f"{opts.pushes} concurrent pushes of distinct small images"

    def setup(target: Target) -> None:
        pass

    def measure(target: Target, rep: int) -> None:
        images = [small_image(f"push/{target.name}/{rep}/{i}", sizes) for i in range(opts.pushes)]
        repos = [target.repo(f"push/r{rep}-{i:02d}") for i in range(opts.pushes)]
        conns = [ctx.connect(target, push_scopes(repo)) for repo in repos]
        barrier = threading.Barrier(opts.pushes + 1)
        errors: list[BaseException] = []

        def push(i: int) -> None:
            barrier.wait()
            try:
                push_small_image(conns[i], repos[i], images[i], "v1")
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=push, args=(i,)) for i in range(opts.pushes)]
        for t in threads:
            t.start()
        barrier.wait()
        start = time.perf_counter()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - start
        for conn in conns:
            conn.close()
        if errors:
            raise errors[0]
        ctx.log(f"  concurrent-push {target.name} #{rep + 1}: {elapsed:.3f} s")
        ctx.results.add(
            key=workload,
            title=title,
            unit="s",
            better="lower",
            target=target.name,
            auth=ctx.scheme(target),
            value=round(elapsed, 4),
            images_per_s=round(opts.pushes / elapsed, 1),
        )

    interleaved(ctx, workload, [t for t in targets if not t.reference_only], setup, measure)


@dataclass(frozen=True)
class Workload:
    name: str
    run: Callable[[Context, list[Target]], None]
    #: Filled in with the sizes of the run: {blob}, {chunk}, {image}, {tags}, {repos}, {pushes}.
    description: str
    #: Also measured on the Distribution instance without auth (request-rate reference).
    on_noauth: bool = False
    needs_blob: bool = False

    def describe(self, opts: Options) -> str:
        return self.description.format(
            blob=size_label(opts.blob_size),
            chunk=size_label(opts.chunk_size),
            image=size_label(opts.image_size),
            layers=opts.image_layers,
            tags=opts.tags,
            repos=opts.repositories,
            pushes=opts.pushes,
            conns="/".join(str(c) for c in opts.concurrencies),
        )


WORKLOADS: tuple[Workload, ...] = (
    Workload(
        "upload-monolithic",
        upload_monolithic_workload,
        "{blob} blob upload, POST then PUT with the body",
        needs_blob=True,
    ),
    Workload(
        "upload-chunked",
        upload_chunked_workload,
        "{blob} blob upload, POST, PATCH {chunk} chunks, PUT",
        needs_blob=True,
    ),
    Workload("download", download_workload, "{blob} blob download (GET)", needs_blob=True),
    Workload(
        "manifest",
        manifest_workload,
        "manifest GET and HEAD by tag at {conns} keep-alive connections",
        on_noauth=True,
    ),
    Workload(
        "tags-list", tags_list_workload, "tags/list of a repo with {tags} tags", on_noauth=True
    ),
    Workload("catalog", catalog_workload, "_catalog with {repos} repositories", on_noauth=True),
    Workload("skopeo", skopeo_workload, "skopeo push and pull of a {layers}-layer {image} image"),
    Workload(
        "concurrent-push",
        concurrent_push_workload,
        "{pushes} concurrent HTTP pushes of distinct small images",
    ),
)
