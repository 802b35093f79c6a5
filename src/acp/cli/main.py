"""Entry point of `ac`. Imports only click and the CLI's own modules: HTTP and YAML libraries
load when a command needs them, so `ac --help` and completion start fast."""

from __future__ import annotations

import os
import sys

import click

from acp.cli.commands import auth, config, create, delete, get, misc, registry, session
from acp.cli.commands.common import examples
from acp.cli.errors import CliError
from acp.cli.target import State


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=examples(
        "ac login https://acp.example.com",
        "ac config get-clusters",
        "ac config use-cluster global",
        "ac create rolebinding alice-pull --clusterrole=system:image-puller --user=alice -n my-ns",
        "ac get images -n my-ns --registry-url=https://registry-api.example.com",
        "ac delete images --repo=my-ns/my-app:v1 --confirm",
    ),
)
@click.option(
    "--kubeconfig",
    default="",
    metavar="FILE",
    help="Kubeconfig file (default: $KUBECONFIG, else ~/.kube/config).",
)
@click.option("--context", default="", metavar="NAME", help="Context <session>/<cluster> to use.")
@click.pass_context
def cli(ctx: click.Context, kubeconfig: str, context: str) -> None:
    """ac: log in to ACP, manage namespace permissions, and list or delete registry images.

    Push and pull images with any OCI client (nerdctl, podman, docker, skopeo, oras).
    """
    ctx.obj = State(os.environ, kubeconfig_flag=kubeconfig, context_flag=context)


for _command in (
    session.login,
    session.logout,
    config.config,
    config.namespace,
    get.get,
    create.create_group,
    delete.delete,
    auth.auth,
    registry.registry,
    misc.version,
    misc.completion,
):
    cli.add_command(_command)


def _usage_line(exc: click.UsageError) -> str:
    path = exc.ctx.command_path if exc.ctx is not None else "ac"
    message = exc.format_message().rstrip(".")
    return f"error: {message}; run `{path} --help` for usage"


def main(argv: list[str] | None = None) -> None:
    try:
        code = cli.main(args=argv, prog_name="ac", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:
        click.echo(exc.ctx.get_help() if exc.ctx else "", err=False)
        code = 0
    except click.UsageError as exc:
        click.echo(_usage_line(exc), err=True)
        code = 2
    except CliError as exc:
        click.echo(f"error: {exc.message}", err=True)
        code = exc.exit_code
    except click.Abort:
        click.echo("error: aborted", err=True)
        code = 130
    except KeyboardInterrupt:
        click.echo("", err=True)
        code = 130
    except BrokenPipeError:
        # `ac get images | head`: the reader went away; nothing more to say.
        sys.stderr.close()
        code = 0
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        code = exc.exit_code
    sys.exit(code if isinstance(code, int) else 0)
