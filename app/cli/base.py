"""The ``qianfa`` command group and what every command shares."""

import getpass

import click
import redis
from flask.cli import FlaskGroup

from app import create_app
from app.audit import Actor
from app.errors import QianfaError
from app.redis import get_redis
from app.settings import get_settings


class CliError(click.ClickException):
    """One line on stderr, exit status 1."""

    def show(self, file=None) -> None:
        click.echo(f"错误:{self.format_message()}", err=True)


class QianfaGroup(FlaskGroup):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except QianfaError as exc:
            raise CliError(exc.message) from exc
        except redis.RedisError as exc:
            raise CliError(f"无法访问 Redis:{exc}") from exc


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
