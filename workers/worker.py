"""The worker entry point: an RQ worker on Qianfa's queues, in priority order."""

from rq import Worker

from app import jobs
from app.errors import InvalidInput
from app.redis import get_redis
from app.settings import Settings


def run_worker(
    settings: Settings, queues: tuple[str, ...] = (), *, burst=False, with_scheduler=True
) -> bool:
    """Work the given queues (default: all, alerts first) until stopped or, in burst mode, idle."""
    unknown = set(queues) - set(jobs.QUEUES)
    if unknown:
        raise InvalidInput(f"未知队列:{', '.join(sorted(unknown))};可用:{', '.join(jobs.QUEUES)}")
    worker = Worker(list(queues or jobs.QUEUES), connection=get_redis(settings))
    return worker.work(burst=burst, with_scheduler=with_scheduler, logging_level=settings.log_level)
