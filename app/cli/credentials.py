"""``qianfa credentials``: set, inspect, rotate and archive the platforms' sealed secrets.

Secret values and passphrases are read from a hidden prompt, stdin or a file, never
from argv (which other users can see in the process list), and nothing here prints one.
"""

import hmac
import os
import sys
from pathlib import Path

import click

from app.cli.base import CliError, operator, store
from app.core import clock, masterkey
from app.core.settings import get_settings
from app.registry import credentials


@click.group("credentials")
def group() -> None:
    """平台密钥(AppSecret、Token、EncodingAESKey)与后台登录名、密码的加密保管(第十六条)。"""


def _hidden_twice(label: str) -> str:
    """Ask twice without echo; a typo in a value nobody can see must not be stored."""
    first = click.prompt(label, hide_input=True, default="", show_default=False)
    second = click.prompt("请再输入一次", hide_input=True, default="", show_default=False)
    if not hmac.compare_digest(first.encode(), second.encode()):
        raise CliError("两次输入不一致,未做任何更改")
    return first


def _passphrase(passphrase_file: Path | None, *, confirm: bool) -> str:
    if passphrase_file is not None:
        lines = passphrase_file.read_text(encoding="utf-8").splitlines()
        return lines[0] if lines else ""
    if confirm:
        return _hidden_twice("口令(至少 12 个字符)")
    return click.prompt("口令", hide_input=True)


passphrase_option = click.option(
    "--passphrase-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="从文件第一行读取口令(否则提示输入,不回显)。",
)


@group.command("set")
@click.argument("platform")
@click.argument("name")
@click.option("--stdin", "from_stdin", is_flag=True, help="从标准输入读取值(第一行)。")
def set_command(platform: str, name: str, from_stdin: bool) -> None:
    """设置平台 PLATFORM 的密钥 NAME(app_secret、token、encoding_aes_key、forward_token,
    或后台登录名 login_name、后台密码 login_password)。"""
    credentials.check_name(name)
    if from_stdin:
        value = sys.stdin.readline().rstrip("\r\n")
    else:
        value = _hidden_twice(f"{name} 的值(不回显)")
    keyring = masterkey.load_keyring(get_settings())
    credentials.set_secret(store(), keyring, operator(), platform, name, value)
    click.echo(f"已设置平台 {platform} 的 {name}。")


@group.command("status")
@click.argument("platform")
def status_command(platform: str) -> None:
    """显示平台 PLATFORM 各项密钥是否已设置及更改时间(不显示值)。"""
    for name, state in credentials.status(store(), platform).items():
        shown = f"已设置  {clock.beijing(state['changed_at'])}" if state["set"] else "未设置"
        click.echo(f"{name:<18}{shown}")


@group.command("rotate-master-key")
@click.option(
    "--new-key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="新主密钥写入此文件(主密钥来自 QIANFA_MASTER_KEY 时必填)。",
)
def rotate_command(new_key_file: Path | None) -> None:
    """生成新主密钥,并用它重新加密全部平台密钥。"""
    settings = get_settings()
    count = credentials.rotate_master_key(store(), settings, operator(), new_key_file=new_key_file)
    target = new_key_file.expanduser().absolute() if new_key_file else settings.master_key_file
    click.echo(f"已用新主密钥重新加密 {count} 项密钥,新主密钥保存在 {target}。")
    if settings.master_key:
        click.echo(
            f"请把 QIANFA_MASTER_KEY_FILE 设为 {target} 并删除 QIANFA_MASTER_KEY,然后重启全部进程。"
        )
    elif target != settings.master_key_file:
        click.echo(f"请把 QIANFA_MASTER_KEY_FILE 设为 {target},然后重启全部进程。")
    else:
        click.echo("请重启全部进程,使其读取新主密钥。")


@group.command("export-sealed")
@click.option(
    "--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="存档文件。"
)
@click.option("--unit", default="", help="只导出这个单位(如 U2)的平台,交该单位管理员密封存档。")
@passphrase_option
def export_command(out: Path, passphrase_file: Path | None, unit: str) -> None:
    """把全部平台(或一个单位的平台)的密钥导出为口令加密的密封存档(不覆盖已有文件)。"""
    if out.exists():
        raise CliError(f"{out} 已存在,不覆盖")
    passphrase = _passphrase(passphrase_file, confirm=True)
    keyring = masterkey.load_keyring(get_settings())
    # Create the file first: an export is audited only if there is somewhere to put it.
    with _create_private(out) as file:
        try:
            sealed = credentials.export_sealed(store(), keyring, operator(), passphrase, unit=unit)
            file.write(sealed)
        except BaseException:
            out.unlink(missing_ok=True)
            raise
    whose = f"单位 {unit.upper()} 的" if unit else ""
    click.echo(f"已导出{whose}密封存档 {out},请与口令分开保管。")


def _create_private(path: Path):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    return os.fdopen(fd, "wb")


@group.command("import-sealed")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@passphrase_option
def import_command(file: Path, passphrase_file: Path | None) -> None:
    """从密封存档恢复已存在平台的密钥(用当前主密钥重新加密)。"""
    passphrase = _passphrase(passphrase_file, confirm=False)
    keyring = masterkey.load_keyring(get_settings())
    count = credentials.import_sealed(store(), keyring, operator(), file.read_bytes(), passphrase)
    click.echo(f"已恢复 {count} 个平台的密钥。")


@group.command("new-master-key")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def new_master_key_command(file: Path) -> None:
    """生成新主密钥写入 FILE(权限 0600,不覆盖已有文件)。"""
    key = masterkey.new_key()
    try:
        masterkey.create_key_file(file, key)
    except FileExistsError:
        raise CliError(f"{file} 已存在,不覆盖") from None
    click.echo(f"已生成新主密钥 {file}(ID {masterkey.key_id(key)})。")


def register(cli: click.Group) -> None:
    cli.add_command(group)
