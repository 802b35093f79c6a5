"""`ac version` and `ac completion`."""

from __future__ import annotations

from typing import Any

import click

from acp import __version__
from acp.cli import printers
from acp.cli.commands.common import examples, output_option, state
from acp.cli.errors import CliError


@click.command(epilog=examples("ac version", "ac version --client -o json"))
@click.option("--client", "client_only", is_flag=True, help="Only the client version.")
@output_option("yaml", "json")
def version(client_only: bool, output: str | None) -> None:
    """Print the client version and, when logged in, the server's."""
    data: dict[str, Any] = {"clientVersion": __version__}
    if not client_only:
        try:
            target = state().target()
            data["serverVersion"] = target.platform().get("/openapi.json")["info"]["version"]
            data["platformUrl"] = target.platform_url
        except (CliError, KeyError, TypeError) as exc:
            data["serverVersion"] = None
            problem = exc.message if isinstance(exc, CliError) else "no version in its answer"
            if not output:
                click.echo(f"warning: server version unknown: {problem}", err=True)
    if output:
        printers.emit(data, output)
        return
    click.echo(f"Client Version: {__version__}")
    if data.get("serverVersion"):
        click.echo(f"Server Version: {data['serverVersion']} ({data['platformUrl']})")


@click.command(
    epilog=examples(
        "# Bash: load now, or add to ~/.bashrc",
        "source <(ac completion bash)",
        "",
        "# Zsh",
        'ac completion zsh > "${fpath[1]}/_ac"',
    )
)
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell completion script for bash, zsh or fish."""
    from click.shell_completion import get_completion_class

    root = click.get_current_context().find_root()
    completer_class = get_completion_class(shell)
    assert completer_class is not None
    completer = completer_class(root.command, {}, "ac", "_AC_COMPLETE")
    click.echo(completer.source())
