"""Publishing (发布能力): ``freepublish/*`` jobs, the articles they create, PUBLISHJOBFINISH.

``submit`` only queues a job (publish_status 1); ``config.publish_delay`` real seconds
later the job finishes, the draft leaves the draft box, the article goes online and
WeChat's PUBLISHJOBFINISH event is POSTed to the account's server. The outcome is 0
(success) unless the account's ``publish_outcomes`` list says otherwise (2 原创失败,
3 常规失败, 4 审核不通过), one entry per job. Publishing needs a 服务号 or a verified
公众号; others get 48001.
"""

from sandbox import callbacks, drafts
from sandbox.errors import WeChatError
from sandbox.state import Account, World

MPHELPER = "mphelper"  # FromUserName of publish events: "公众号群发助手的openid,为mphelper"
FAILED = (2, 3, 4)


def may_publish(account: Account) -> None:
    if account.kind != "service" and not account.verified:
        raise WeChatError(48001)


def wire_id(world: World, value: int):
    """publish_id as a number (what real captures show) or a string (what the docs show)."""
    return str(value) if world.config.publish_id_type == "string" else value


def find_job(account: Account, publish_id) -> dict:
    job = account.publish_jobs.get(str(publish_id))
    if job is None:
        raise WeChatError(53502)
    return job


def submit(world: World, account: Account, media_id: str) -> dict:
    """``freepublish/submit``: queue a publish job for a draft."""
    may_publish(account)
    drafts.get(account, media_id)
    publish_id, msg_data_id = world.next_id("publish"), world.next_id("msg_data")
    account.publish_jobs[str(publish_id)] = {
        "publish_id": publish_id,
        "msg_data_id": msg_data_id,
        "media_id": media_id,
        "publish_status": 1,
        "submitted_at": int(world.now()),
        "article_id": "",
        "article_detail": None,
        "fail_idx": [],
    }
    world.scheduler.call_later(
        world.config.publish_delay, lambda: finish(world, account, publish_id)
    )
    return {"publish_id": wire_id(world, publish_id), "msg_data_id": wire_id(world, msg_data_id)}


def article_url(account: Account, msg_data_id: int, index: int, article_id: str) -> str:
    return (
        f"https://mp.weixin.qq.com/s?__biz={account.original_id}&mid={msg_data_id}"
        f"&idx={index}&sn={article_id[:32]}"
    )


def put_online(world: World, account: Account, draft: dict, msg_data_id: int, via: str) -> dict:
    """Turn a draft into an online article; the draft leaves the draft box."""
    article_id = world.random_text(43)
    items = [
        {
            **article,
            "url": article_url(account, msg_data_id, index, article_id),
            "is_deleted": False,
        }
        for index, article in enumerate(draft["articles"], start=1)
    ]
    article = {
        "article_id": article_id,
        "msg_data_id": msg_data_id,
        "via": via,
        "news_item": items,
        "update_time": int(world.now()),
    }
    account.articles[article_id] = article
    account.drafts.pop(draft["media_id"], None)
    return article


def _outcome(account: Account, job: dict) -> int:
    if job["media_id"] not in account.drafts:
        return 3  # the draft was deleted while the job waited
    return account.publish_outcomes.pop(0) if account.publish_outcomes else 0


def finish(world: World, account: Account, publish_id: int) -> None:
    """End a publish job and push PUBLISHJOBFINISH to the account's server."""
    with world.lock:
        if not world.holds(account):
            return
        job = account.publish_jobs[str(publish_id)]
        status = _outcome(account, job)
        job["publish_status"] = status
        if status == 0:
            article = put_online(
                world, account, account.drafts[job["media_id"]], job["msg_data_id"], "发布"
            )
            job["article_id"] = article["article_id"]
            job["article_detail"] = {
                "count": len(article["news_item"]),
                "item": [
                    {"idx": idx, "article_url": item["url"]}
                    for idx, item in enumerate(article["news_item"], start=1)
                ],
            }
        elif status in FAILED:
            count = len(account.drafts.get(job["media_id"], {}).get("articles", [])) or 1
            job["fail_idx"] = list(range(1, count + 1))
        event = finish_event(world, account, job)
    callbacks.deliver_later(world, account, event)


def finish_event(world: World, account: Account, job: dict) -> dict:
    """PUBLISHJOBFINISH as WeChat's doc shows it (one ``item`` per article)."""
    info: dict = {"publish_id": job["publish_id"], "publish_status": job["publish_status"]}
    if job["publish_status"] == 0:
        info["article_id"] = job["article_id"]
        info["article_detail"] = job["article_detail"]
    elif job["fail_idx"]:
        info["fail_idx"] = job["fail_idx"]
    return {
        "ToUserName": account.original_id,
        "FromUserName": MPHELPER,
        "CreateTime": int(world.now()),
        "MsgType": "event",
        "Event": "PUBLISHJOBFINISH",
        "PublishEventInfo": info,
    }


def status(world: World, account: Account, publish_id) -> dict:
    """``freepublish/get``."""
    may_publish(account)
    job = find_job(account, publish_id)
    answer = {"publish_id": wire_id(world, job["publish_id"])}
    answer["publish_status"] = job["publish_status"]
    if job["publish_status"] == 0 or job["article_id"]:
        answer["article_id"] = job["article_id"]
        answer["article_detail"] = job["article_detail"]
    answer["fail_idx"] = job["fail_idx"]
    return answer


def find_article(account: Account, article_id: str) -> dict:
    article = account.articles.get(article_id)
    if article is None or all(item["is_deleted"] for item in article["news_item"]):
        raise WeChatError(53600)
    return article


def delete(world: World, account: Account, article_id: str, index: int) -> None:
    """``freepublish/delete``: ``index`` counts from 1; 0 deletes every article."""
    may_publish(account)
    article = find_article(account, article_id)
    items = article["news_item"]
    if not 0 <= index <= len(items):
        raise WeChatError(47003, "index")
    for position, item in enumerate(items, start=1):
        if index in (0, position):
            item["is_deleted"] = True
    article["update_time"] = int(world.now())
    if all(item["is_deleted"] for item in items):
        for job in account.publish_jobs.values():
            if job["article_id"] == article_id:
                job["publish_status"] = 5  # 成功后用户删除所有文章
