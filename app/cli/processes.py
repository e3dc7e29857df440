"""Commands that start Qianfa's processes: ``serve``, ``worker`` and ``run`` (all of them)."""

import sys

import click
from gunicorn.app.base import BaseApplication

from app import create_app
from app.cli.base import CliError
from app.settings import get_settings


class WebServer(BaseApplication):
    """Gunicorn serving ``create_app()``, configured from the settings, not from argv."""

    def __init__(self, settings):
        self.settings = settings
        super().__init__()

    def load_config(self):
        self.cfg.set("bind", f"{self.settings.host}:{self.settings.port}")
        self.cfg.set("workers", self.settings.web_workers)
        self.cfg.set("timeout", 30)
        self.cfg.set("graceful_timeout", 5)
        self.cfg.set("accesslog", "-")
        # Gunicorn's control socket defaults to one path per user, shared by every instance.
        self.cfg.set("control_socket_disable", True)

    def load(self):
        return create_app(self.settings)


@click.command("serve")
def serve():
    """启动 Web 进程(gunicorn)。"""
    WebServer(get_settings()).run()


@click.command("worker")
@click.argument("queues", nargs=-1)
@click.option("--burst", is_flag=True, help="队列为空时退出。")
@click.option("--with-scheduler/--without-scheduler", default=True, help="同时运行 RQ 调度器。")
@click.option("--simple", is_flag=True, help="在本进程内执行任务(SimpleWorker,不为每个任务 fork)。")
def worker(queues, burst, with_scheduler, simple):
    """启动 RQ 工作进程(默认队列:alerts publishing notifications)。"""
    from workers.worker import run_worker

    run_worker(
        get_settings(), tuple(queues), burst=burst, with_scheduler=with_scheduler, simple=simple
    )


@click.command("dispatcher")
def dispatcher():
    """启动分发进程:把审计记录和告警转为工作队列中的任务,并按时排入定期任务。"""
    import logging

    from app import dispatch
    from app.redis import get_redis

    settings = get_settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(name)s %(message)s")
    dispatch.run(get_redis(settings), settings)


@click.command("run")
def run():
    """启动全部进程(Web、工作、分发;未设置 QIANFA_REDIS_URL 时含内置 Redis),Ctrl-C 全部停止。"""
    from app.runner import run_all

    code = run_all(get_settings(), echo=click.echo)
    if code:
        raise CliError("有进程异常退出")
    sys.exit(0)


def register(cli: click.Group) -> None:
    for command in (serve, worker, dispatcher, run):
        cli.add_command(command)
