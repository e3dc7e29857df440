"""``python -m sandbox``: start the sandbox WeChat server in the foreground.

The sandbox is a program of its own beside Qianfa: it shares nothing with it but HTTP,
and is not part of Qianfa's package (it ships in the repository, for demos and tests).
"""

import signal
from pathlib import Path

import click

from sandbox import create_app, persist
from sandbox import demo as demo_account
from sandbox.config import SandboxConfig
from sandbox.logs import configure
from sandbox.server import SandboxServer


@click.command("sandbox")
@click.option("--host", default="127.0.0.1", show_default=True, help="监听地址。")
@click.option("--port", default=8100, show_default=True, type=int, help="监听端口。")
@click.option("--demo", is_flag=True, help="注册演示账号和用户,并打印使用方法。")
@click.option("--seed", default=0, show_default=True, type=int, help="随机种子(故障注入可复现)。")
@click.option("--server-url", default=None, help="演示账号的服务器地址(Qianfa 的回调地址)。")
@click.option("--brief", is_flag=True, help="只打印一行启动信息(由 qianfa run 启动时使用)。")
@click.option(
    "--state",
    "state_file",
    default=None,
    type=click.Path(dir_okay=False, path_type=Path),
    help="把账号、用户、聊天、素材、草稿、文章、群发保存在此文件,重启后接着用。",
)
def main(
    host: str,
    port: int,
    demo: bool,
    seed: int,
    server_url: str | None,
    brief: bool,
    state_file: Path | None,
) -> None:
    """启动本地模拟的微信服务器(沙箱),供演示和测试使用。"""
    configure()
    try:
        server = SandboxServer(create_app(SandboxConfig(seed=seed)), host, port)
    except OSError as exc:
        raise click.ClickException(f"无法监听 {host}:{port}:{exc.strerror}") from exc
    if state_file is not None:
        persist.keep(server.world, state_file)
    if demo:
        settings = demo_account.install(server.world, server_url)
        shown = demo_account.instructions(server.url, settings)
        click.echo(shown.splitlines()[0] if brief else shown)
        site = demo_account.install_site(server.app.extensions["sandbox_sites"], server.url)
        if not brief:
            click.echo(
                f"演示网站「{site['name']}」:{site['home']}(手工发布:/sandbox/sites/{site['id']})"
            )
    else:
        click.echo(f"沙箱微信已启动:{server.url}  (Ctrl-C 停止)")
    signal.signal(signal.SIGTERM, _stop)
    try:
        server.serve_forever()  # werkzeug returns on Ctrl-C; the except is for the rare miss
    except KeyboardInterrupt:
        pass
    click.echo("沙箱微信已停止")


def _stop(signum, frame) -> None:
    """SIGTERM (how ``qianfa run`` stops its children) stops like Ctrl-C: the world is
    closed, so its last changes are written (``persist``)."""
    raise KeyboardInterrupt


if __name__ == "__main__":
    main(prog_name="python -m sandbox")
