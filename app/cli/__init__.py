"""The ``qianfa`` command: what an operator (and later the console) does to Qianfa.

Commands are grouped by domain noun in this package. Errors from the domain and from
Redis are caught once, in ``base.QianfaGroup``, and printed as one line.
"""

import sys

import click

from app.cli import (
    apitokens,
    audit,
    consolecmd,
    credentials,
    filing,
    processes,
    publishing,
    registry,
    screening,
    webhook,
)
from app.cli.base import cli
from app.core.errors import ConfigError
from app.core.settings import get_settings

for group in (
    apitokens,
    audit,
    consolecmd,
    credentials,
    filing,
    processes,
    publishing,
    registry,
    screening,
    webhook,
):
    group.register(cli)


def main() -> None:
    """Entry point of the console script: settings are checked before any command runs."""
    try:
        get_settings()
    except ConfigError as exc:
        click.echo(f"配置错误:{exc.message}", err=True)
        sys.exit(2)
    cli.main(prog_name="qianfa")
