"""A `nerdctl` command for tests, carried out by podman.

nerdctl is not packaged for this machine. podman has the same Docker-style command lines for
everything the seed page runs (`login -u -p`, `--insecure-registry`, `pull`, `tag`, `push`),
so the page's nerdctl lines run exactly as printed and a real OCI client does the transfers.
What differs from nerdctl, and why it does not weaken the test:

- The registry client is containers/image (podman's), not containerd's resolver. The
  containerd resolver that nerdctl uses is tested on its own with `ctr` in
  `tests/e2e/test_clients.py` (push and pull with `--user` over plain HTTP).
- Like nerdctl, plain HTTP is allowed for the loopback registries the test names; the
  global `--insecure-registry` flag becomes podman's `--tls-verify=false`.
- `remote.registry.io` is mapped to a local registry in podman's registries.conf, as
  nerdctl would map it with a `hosts.toml` mirror entry.
- Any command or global flag the page does not use is refused with an error, so the shim
  cannot quietly accept something nerdctl would not.

`install(bin_dir, work_dir, insecure_hosts, host_map)` writes the `nerdctl` executable;
`remove(work_dir)` deletes its storage.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

from tests.support.procs import remove_tree, short_tmpdir

GLOBAL_FLAGS_WITHOUT_VALUE = {"--insecure-registry", "--debug"}


def _podman_args(work: Path) -> list[str]:
    return [
        "podman",
        "--root", str(work / "root"),
        "--runroot", _runroot(work).read_text(),
        "--tmpdir", str(work / "tmp"),
        "--storage-driver", "vfs",
        "--cgroup-manager", "cgroupfs",
        "--events-backend", "none",
    ]  # fmt: skip


def _runroot(work: Path) -> Path:
    """The file naming the run root: podman refuses run roots longer than 50 characters,
    so it lives under /tmp rather than in `work`."""
    return work / "runroot"


def translate(argv: list[str], work: Path) -> list[str]:
    """nerdctl [GLOBAL FLAGS] COMMAND ARGS → podman [STORAGE] COMMAND ARGS."""
    insecure = False
    args = list(argv)
    while args and args[0].startswith("-"):
        flag = args.pop(0)
        if flag == "--insecure-registry":
            insecure = True
        elif flag not in GLOBAL_FLAGS_WITHOUT_VALUE:
            raise SystemExit(f"nerdctl (test shim): global flag {flag} is not supported")
    if not args:
        raise SystemExit("nerdctl (test shim): no command")
    command, rest = args[0], args[1:]
    if command not in ("login", "logout", "pull", "push", "tag", "images", "rmi", "inspect"):
        raise SystemExit(f"nerdctl (test shim): command {command} is not supported")
    extra = ["--tls-verify=false"] if insecure and command in ("login", "pull", "push") else []
    return [*_podman_args(work), command, *extra, *rest]


def podman(work: Path, *args: str) -> str:
    """Run podman on the shim's storage directly (test set-up, e.g. `import`)."""
    import subprocess

    env = {
        **os.environ,
        "REGISTRY_AUTH_FILE": str(work / "auth.json"),
        "CONTAINERS_REGISTRIES_CONF": str(work / "registries.conf"),
    }
    done = subprocess.run(
        [*_podman_args(work), *args], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"podman {' '.join(args)} failed: {done.stderr}")
    return done.stdout


def main() -> None:
    work = Path(os.environ["NERDCTL_SHIM_WORK"])
    argv = translate(sys.argv[1:], work)
    env = {
        **os.environ,
        "REGISTRY_AUTH_FILE": str(work / "auth.json"),
        "CONTAINERS_REGISTRIES_CONF": str(work / "registries.conf"),
    }
    os.execvpe(argv[0], argv, env)


def install(
    bin_dir: Path, work: Path, insecure_hosts: list[str], host_map: dict[str, str] | None = None
) -> Path:
    """Write `bin_dir/nerdctl`; returns its path. Put `bin_dir` first on PATH; `remove` the
    storage afterwards."""
    for sub in ("root", "tmp"):
        (work / sub).mkdir(parents=True, exist_ok=True)
    if not _runroot(work).exists():
        _runroot(work).write_text(str(short_tmpdir("nerdctl-")))
    lines = ["unqualified-search-registries = []", ""]
    for host in insecure_hosts:
        lines += ["[[registry]]", f'location = "{host}"', "insecure = true", ""]
    for prefix, location in (host_map or {}).items():
        lines += [
            "[[registry]]",
            f'prefix = "{prefix}"',
            f'location = "{location}"',
            "insecure = true",
            "",
        ]
    (work / "registries.conf").write_text("\n".join(lines))
    auth = work / "auth.json"
    if not auth.exists():
        auth.write_text('{"auths": {}}\n')
    bin_dir.mkdir(parents=True, exist_ok=True)
    script = bin_dir / "nerdctl"
    root = Path(__file__).resolve().parents[2]
    script.write_text(
        "#!/bin/sh\n"
        f'NERDCTL_SHIM_WORK="{work}" PYTHONPATH="{root}" exec "{sys.executable}" '
        '-m tests.support.nerdctl "$@"\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return script


def remove(work: Path) -> None:
    """Delete the storage and run root that `install` set up."""
    if _runroot(work).exists():
        remove_tree(Path(_runroot(work).read_text()))
    remove_tree(work)


if __name__ == "__main__":
    main()
