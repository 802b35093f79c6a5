"""Pieces every command module uses: flags spelled like kubectl's, help examples, and the
group type that accepts kubectl's resource aliases (`ns`, `sa`, singular and plural)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

import click

from acp.cli.target import DEFAULT_NAMESPACE, State

F = TypeVar("F", bound=Callable[..., Any])

# A namespace (and any DNS-1123 label) as Kubernetes and the registry's name grammar allow it.
NAMESPACE_RE = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


def examples(*lines: str) -> str:
    """A help epilog that click prints as written (every paragraph after a blank line needs
    its own no-rewrap marker)."""
    return "\b\nExamples:\n" + "\n".join(f"  {line}" if line else "\n\b" for line in lines)


def state() -> State:
    obj = click.get_current_context().find_object(State)
    if obj is None:  # commands invoked outside `ac` (unit tests of one command)
        import os

        obj = State(os.environ)
        click.get_current_context().obj = obj
    return obj


def namespace_option(func: F) -> F:
    return click.option(
        "-n",
        "--namespace",
        "namespace",
        default="",
        metavar="NS",
        help="The namespace (default: the current context's namespace).",
    )(func)


def all_namespaces_option(func: F) -> F:
    return click.option(
        "-A",
        "--all-namespaces",
        "all_namespaces",
        is_flag=True,
        help="Every namespace you may see.",
    )(func)


def output_option(*choices: str) -> Callable[[F], F]:
    def decorate(func: F) -> F:
        return click.option(
            "-o",
            "--output",
            "output",
            type=click.Choice(choices),
            default=None,
            help="Output format.",
        )(func)

    return decorate


def dry_run_option(func: F) -> F:
    return click.option(
        "--dry-run",
        "dry_run",
        type=click.Choice(["none", "client", "server"]),
        default="none",
        is_flag=False,
        flag_value="client",
        help="client: only print what would be sent; server: let the server check it "
        "without saving.",
    )(func)


def current_namespace(namespace: str) -> str:
    """`-n`, else the context's namespace (a ServiceAccount's own in a Pod), else `default`."""
    if namespace:
        return namespace
    return state().target().namespace or DEFAULT_NAMESPACE


class AliasGroup(click.Group):
    """Sub-commands reachable by several names: `ac get ns` = `ac get namespaces`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.aliases: dict[str, str] = {}

    def add_aliased(self, command: click.Command, *aliases: str) -> None:
        self.add_command(command)
        for alias in aliases:
            if alias != command.name:
                self.aliases[alias] = str(command.name)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        name = self.aliases.get(cmd_name.lower(), cmd_name.lower())
        return super().get_command(ctx, name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        return (command.name if command else name), command, rest
