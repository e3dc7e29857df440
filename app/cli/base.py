"""The ``qianfa`` command group and what every command shares."""

import errno
import getpass
import re
import sys

import click
import redis
from flask.cli import FlaskGroup

from app.core.audit import Actor
from app.core.errors import QianfaError
from app.core.redis import get_redis
from app.core.settings import get_settings
from app.web import create_app


class CliError(click.ClickException):
    """One line on stderr, exit status 1."""

    def show(self, file=None) -> None:
        click.echo(f"错误:{self.format_message()}", err=True)


# Click's own usage errors, said in Chinese; anything else is shown as click words it.
USAGE_MESSAGES = (
    (r"Missing argument '(.+)'\.", r"缺少参数 \1"),
    (r"Missing option '(.+)'\.", r"缺少选项 \1"),
    (r"No such command '(.+)'\.", r"没有命令 \1"),
    (r"No such option: (.+)", r"没有选项 \1"),
    (r"Invalid value for '(.+)': (.+)", r"\1 的值无效:\2"),
    (r"Got unexpected extra arguments? \((.+)\)", r"多余的参数:\1"),
    (r"Option '(.+)' requires an argument\.", r"选项 \1 需要一个值"),
)


FILE_ERRORS = {
    errno.ENOENT: "文件或目录不存在",
    errno.EACCES: "没有权限",
    errno.EEXIST: "文件已存在",
    errno.EISDIR: "这是一个目录",
    errno.ENOSPC: "磁盘空间不足",
}


def usage_message(message: str) -> str:
    for pattern, chinese in USAGE_MESSAGES:
        if re.fullmatch(pattern, message):
            return re.sub(pattern, chinese, message)
    return message


class QianfaGroup(FlaskGroup):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except QianfaError as exc:
            raise CliError(exc.message) from exc
        except redis.RedisError as exc:
            raise CliError(f"无法访问 Redis:{exc}") from exc
        except UnicodeDecodeError as exc:
            raise CliError("文件不是 UTF-8 文本") from exc
        except OSError as exc:
            reason = FILE_ERRORS.get(exc.errno, exc.strerror or str(exc))
            raise CliError(f"无法读写文件 {exc.filename or ''}:{reason}") from exc

    def main(self, *args, **kwargs):
        """Run a command; usage mistakes, like every error, are one line in Chinese."""
        try:
            return super().main(*args, standalone_mode=False, **kwargs)
        except click.UsageError as exc:
            message = usage_message(exc.format_message())
            click.echo(f"错误:{message}(用 --help 查看用法)", err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("已取消", err=True)
            sys.exit(1)


cli = QianfaGroup(
    name="qianfa",
    create_app=lambda: create_app(),
    add_default_commands=False,
    load_dotenv=False,
    set_debug_flag=False,
    help="签发 Qianfa:微信公众号发布前审核网关。",
)
# Flask's own options (--app, --env-file, --debug, --version) would load another app or
# misreport the version; settings come from QIANFA_* variables only.
cli.params = [p for p in cli.params if p.name not in ("app", "env_file", "debug", "version")]


def operator() -> Actor:
    """The actor for commands run from the shell: the OS user, as the console will use its user."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = "unknown"
    return Actor.cli(name)


def store():
    return get_redis(get_settings())
