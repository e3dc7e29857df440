"""``qianfa console``: console accounts, managed from the server's shell."""

import click

from app.channels import console_accounts
from app.cli.base import CliError, operator, store


@click.group("console")
def group():
    """Web 控制台账号。"""


@group.command("set-password")
@click.argument("person")
@click.option("--must-change/--no-must-change", default=True, help="首次登录时须修改(默认是)。")
def set_password(person, must_change):
    """为人员设置控制台密码(隐藏输入,输入两次)。"""
    first = click.prompt("新密码", hide_input=True, default="", show_default=False)
    second = click.prompt("请再输入一次", hide_input=True, default="", show_default=False)
    if first != second:
        raise CliError("两次输入的密码不一致")
    console_accounts.set_password(store(), operator(), person, first, must_change=must_change)
    click.echo(f"已为 {person.upper()} 设置控制台密码")


def register(cli: click.Group) -> None:
    cli.add_command(group)
