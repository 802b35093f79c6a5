"""`ac` stays a small client: no server code, no heavy imports at start-up, help everywhere."""

from __future__ import annotations

import subprocess
import sys

import click

from acp.cli.main import cli

FORBIDDEN = ("acp.server", "acp.db", "acp.auth", "acp.rbac", "acp.registry", "acp.platform",
             "aiohttp", "sqlalchemy", "alembic", "asyncpg", "aiosqlite", "jwt", "cryptography",
             "uvloop", "prometheus_client")  # fmt: skip
LAZY = ("httpx", "yaml")


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys\nprint('\\n'.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return set(out.split())


def test_importing_the_cli_imports_no_server_code() -> None:
    modules = _modules_after("import acp.cli.main")
    for name in FORBIDDEN + LAZY:
        assert not any(m == name or m.startswith(name + ".") for m in modules), name


def test_help_imports_no_server_code_either() -> None:
    modules = _modules_after(
        "import sys\nfrom acp.cli.main import main\nsys.argv = ['ac', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass"
    )
    for name in FORBIDDEN + LAZY:
        assert not any(m == name or m.startswith(name + ".") for m in modules), name


def _commands(group: click.Group, path: str = "ac") -> list[tuple[str, click.Command]]:
    found: list[tuple[str, click.Command]] = [(path, group)]
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found += _commands(command, f"{path} {name}")
        else:
            found.append((f"{path} {name}", command))
    return found


def test_every_command_has_help_with_examples() -> None:
    commands = _commands(cli)
    assert len(commands) > 30
    for path, command in commands:
        with click.Context(command, info_name=path) as ctx:
            text = command.get_help(ctx)
        assert "Examples:" in text, path
        assert command.help or command.short_help, path


def test_seed_commands_exist() -> None:
    names = {path for path, _ in _commands(cli)}
    for path in (
        "ac login",
        "ac config get-clusters",
        "ac config use-cluster",
        "ac create rolebinding",
        "ac get images",
        "ac delete images",
    ):
        assert path in names
