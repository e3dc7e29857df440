"""Chat commands, driven through ``chat.respond`` as the webhook calls it."""

import json
from dataclasses import dataclass

import pytest

from app.channels import chat
from app.core import alerts, audit, keys
from app.core.paging import paginate
from app.drafts import compose, lifecycle, preview, review
from app.notify import escalation
from app.registry import bindcodes, owners, people, platforms
from tests.factories import KEYRING, OPERATOR, refiled, snapshot, submitted, world
from workers import jobs


@dataclass
class Phone:
    """One WeChat user talking to the platform's account."""

    r: object
    platform: str
    openid: str

    def inbound(self, kind: str = "text", **fields) -> chat.Inbound:
        """A message as the webhook hands it over; encrypted (authenticated) unless told."""
        person = bindcodes.person_for(self.r, self.platform, self.openid) or ""
        fields = {"authenticated": True, **fields}
        return chat.Inbound(openid=self.openid, type=kind, person=person, **fields)

    def say(self, text: str) -> str | None:
        return self.send(self.inbound(text=text))

    def send(self, message: chat.Inbound) -> str | None:
        return chat.respond(self.r, KEYRING, platforms.get(self.r, self.platform), message)

    def bind(self, person: str) -> str:
        code = bindcodes.issue(self.r, KEYRING, OPERATOR, person, self.platform, ttl=600)
        return self.say(f"绑定 {code}")


@pytest.fixture
def w(r):
    return world(r)


@pytest.fixture
def admin(r, w):
    phone = Phone(r, w.platform, "oAdmin000000000001")
    phone.bind(w.admin)
    return phone


@pytest.fixture
def responsible(r, w):
    phone = Phone(r, w.platform, "oResp0000000000001")
    phone.bind(w.responsible)
    return phone


@pytest.fixture
def propaganda(r, w):
    phone = Phone(r, w.platform, "oProp0000000000001")
    phone.bind(w.propaganda)
    return phone


@pytest.fixture
def follower(r, w):
    return Phone(r, w.platform, "oFollower000000001")


def refusals(r):
    return [rec for rec in audit.records(r) if rec["action"] == "chat.refused"]


def test_bind_with_a_code_names_the_role(r, w):
    phone = Phone(r, w.platform, "oAdmin000000000001")
    reply = phone.bind(w.admin)
    assert "绑定成功" in reply and "管理员" in reply
    assert bindcodes.person_for(r, w.platform, phone.openid) == w.admin


def test_bind_tolerates_full_width_and_a_missing_space(r, w):
    phone = Phone(r, w.platform, "oAdmin000000000001")
    code = bindcodes.issue(r, KEYRING, OPERATOR, w.admin, w.platform, ttl=600)
    full_width = code.translate({ord(c): ord(c) + 0xFEE0 for c in code if c.isalnum()})
    assert "绑定成功" in phone.say(f"  绑定{full_width}  ")


def test_wrong_bind_codes_are_throttled(r, w):
    phone = Phone(r, w.platform, "oStranger00000001")
    for _ in range(chat.BIND_ATTEMPTS):
        assert "无效" in phone.say("绑定 AAAA-AAAA")
    code = bindcodes.issue(r, KEYRING, OPERATOR, w.admin, w.platform, ttl=600)
    assert "次数过多" in phone.say(f"bind {code}")
    assert bindcodes.person_for(r, w.platform, phone.openid) is None


def test_followers_words_are_left_to_the_account(follower):
    for text in ("帮助", "投稿", "你好", "待审"):
        assert follower.say(text) is None
    assert follower.send(follower.inbound("event", event="subscribe")) is None


def test_follower_naming_a_draft_is_refused_and_audited(r, follower, admin):
    admin.say("投稿 运动会通知")
    reply = follower.say("同意 D1")
    assert "还没有绑定" in reply
    assert lifecycle.get(r, "D1").status == lifecycle.IN_REVIEW
    [refusal] = refusals(r)
    assert refusal["reason"] == "unbound" and json.loads(refusal["detail"])["command"] == "approve"


def test_help_lists_only_what_the_role_may_do(admin, responsible):
    admin_help, reviewer_help = admin.say("帮助"), responsible.say("help")
    assert "投稿" in admin_help and "同意" not in admin_help
    assert "同意" in reviewer_help and "投稿" not in reviewer_help


def test_unknown_command_gets_a_hint(admin):
    assert "帮助" in admin.say("发布吧")


def test_short_text_submission_goes_to_review(r, w, admin):
    reply = admin.say("投稿 计算机学院举办程序设计竞赛")
    assert "D1" in reply and "第一责任人" in reply
    draft = lifecycle.get(r, "D1")
    assert (draft.status, draft.author, draft.kind) == (
        lifecycle.IN_REVIEW,
        w.admin,
        lifecycle.TEXT,
    )


def test_draft_session_collects_text_pictures_and_links_into_an_article(r, admin):
    assert "开始投稿" in admin.say("投稿")
    admin.say("今天下午举行了运动会。")
    admin.send(admin.inbound("image", pic_url="https://mmbiz.qpic.cn/a.jpg", media_id="m1"))
    admin.send(admin.inbound("link", url="https://www.example.edu.cn/n/1", title="成绩公告"))
    admin.say("状态良好的同学请报名")  # a command word, but inside a session it is content
    assert "请先发送「标题" in admin.say("提交")
    admin.say("标题 校运动会开幕")
    outline = admin.say("预览")
    assert "校运动会开幕" in outline and "[图片·封面]" in outline and "4." in outline
    assert "已提交稿件 D1" in admin.say("提交")
    version = lifecycle.version(r, "D1")
    assert version.kind == lifecycle.ARTICLE
    assert version.content["cover_image"] == "https://mmbiz.qpic.cn/a.jpg"
    assert "状态良好的同学请报名" in version.content["content_html"]
    assert compose.load(r, admin.platform, admin.openid) is None


def test_one_picture_with_a_caption_is_an_image_post(r, admin):
    admin.say("投稿")
    admin.send(admin.inbound("image", pic_url="https://mmbiz.qpic.cn/b.jpg"))
    admin.say("图书馆新馆落成")
    admin.say("提交")
    version = lifecycle.version(r, "D1")
    assert version.kind == lifecycle.IMAGE and version.content["caption"] == "图书馆新馆落成"


def test_cancel_drops_the_session(r, admin):
    admin.say("投稿")
    admin.say("草稿内容")
    assert "已取消" in admin.say("取消")
    assert lifecycle.list_drafts(r) == []
    assert "没有看懂" in admin.say("草稿内容")


def test_reviewer_views_and_approves_naming_version_and_hash(r, admin, responsible):
    admin.say("投稿 计算机学院举办程序设计竞赛")
    assert "D1" in responsible.say("待审")
    view = responsible.say("查看D1")
    assert "计算机学院举办程序设计竞赛" in view and "同意 D1" in view
    draft = lifecycle.get(r, "D1")
    reply = responsible.say("通过 D1")
    assert f"第 1 版({draft.content_hash[:8]})" in reply and "全部通过" in reply
    assert lifecycle.get(r, "D1").status == lifecycle.APPROVED
    assert "没有等待你审核" in responsible.say("待审")


def test_approval_of_a_version_the_reviewer_did_not_see_is_refused(r, w, admin, responsible):
    admin.say("投稿 第一版")
    responsible.say("查看 D1")
    lifecycle.edit(r, audit.Actor(via="chat", person=w.admin), "D1", {"text": "第二版"})
    assert "已修改" in responsible.say("同意 D1")
    assert review.state(r, "D1").given == {}


def test_tier_one_platform_needs_the_propaganda_department_too(r):
    w = world(r, tier=1, platform_id="xy-wx")
    admin, resp, prop = (Phone(r, w.platform, f"oPerson00000000{i}") for i in range(3))
    admin.bind(w.admin), resp.bind(w.responsible), prop.bind(w.propaganda)
    admin.say("投稿 学校召开党委会")
    assert "还需:党委宣传部" in resp.say("同意 D1")
    assert "D1" in prop.say("待审")
    assert "全部通过" in prop.say("同意 D1")


def test_flagged_draft_adds_the_propaganda_sign_off(r, admin, responsible, propaganda):
    admin.say("投稿 关于突发事件的说明")
    assert "党委宣传部" in responsible.say("敏感 D1 突发")
    assert "还需:党委宣传部" in responsible.say("同意 D1")
    assert lifecycle.get(r, "D1").flags == {"emergency"}
    propaganda.say("同意 D1")
    assert lifecycle.get(r, "D1").status == lifecycle.APPROVED


def test_reject_needs_a_reason(r, admin, responsible):
    admin.say("投稿 有错别字的稿件")
    before = snapshot(r)
    assert "请写明驳回原因" in responsible.say("驳回 D1")
    assert snapshot(r) == before
    assert "标题有错别字" in responsible.say("驳回 D1 标题有错别字")
    draft = lifecycle.get(r, "D1")
    assert (draft.status, draft.status_reason) == (lifecycle.REJECTED, "标题有错别字")
    assert "标题有错别字" in admin.say("状态 D1")


def test_admin_withdraws_and_lists_own_drafts(r, admin):
    admin.say("投稿 第一篇")
    admin.say("投稿 第二篇")
    assert "已撤回稿件 D1" in admin.say("撤回 D1 写错了")
    mine = admin.say("我的稿件")
    assert "D1「第一篇」 · 已撤回" in mine and "D2「第二篇」 · 待第一责任人审核" in mine


def test_wrong_role_is_refused_politely_and_audited(r, admin, responsible):
    admin.say("投稿 运动会通知")
    before = lifecycle.get(r, "D1")
    assert "只有本公众号的审核人" in admin.say("同意 D1")
    assert "只有本公众号的管理员" in responsible.say("投稿 我也想发")
    assert lifecycle.get(r, "D1") == before and len(lifecycle.list_drafts(r)) == 1
    assert [json.loads(rec["detail"])["command"] for rec in refusals(r)] == ["approve", "compose"]


def test_author_who_is_also_reviewer_cannot_approve_own_draft(r):
    w = world(r)
    refiled(r, owners.add_admin(r, OPERATOR, w.platform, w.propaganda, "宣传部兼任管理员"))
    phone = Phone(r, w.platform, "oBoth000000000001")
    phone.bind(w.propaganda)
    phone.say("投稿 自己的稿件")
    assert "不能审核自己" in phone.say("同意 D1")
    assert refusals(r)[-1]["reason"] == "self_review"


def test_draft_of_another_platform_is_not_found(r, w, responsible):
    other = world(r, platform_id="other-wx")
    lifecycle.submit(
        r,
        audit.Actor(via="chat", person=other.admin),
        lifecycle.create(
            r, audit.Actor(via="chat", person=other.admin), "other-wx", "text", {"text": "x"}
        ).id,
    )
    assert "本公众号没有编号为 D1" in responsible.say("查看 D1")


def test_long_text_is_viewed_in_pages_that_fit_a_message(r, admin, responsible):
    admin.say("投稿 " + "段落内容。" * 380)
    first = responsible.say("查看 D1")
    assert "第 1/" in first and "查看 D1 2" in first
    pages = paginate(lifecycle.version(r, "D1").content["text"], chat.PAGE_BYTES)
    assert "".join(pages) == lifecycle.version(r, "D1").content["text"]
    for number in range(1, len(pages) + 1):
        reply = responsible.say(f"查看 D1 {number}")
        assert len(reply.encode()) <= chat.MAX_REPLY_BYTES and pages[number - 1] in reply


def test_article_view_carries_a_signed_preview_link(r, admin, responsible):
    admin.say("投稿")
    admin.say("正文")
    admin.send(admin.inbound("image", pic_url="https://mmbiz.qpic.cn/c.jpg"))
    admin.say("标题 校园新闻")
    admin.say("提交")
    reply = responsible.say("查看 D1")
    token = reply.split("/preview/")[1].split()[0]
    assert preview.open_token(KEYRING, token) == ("D1", 1)


def test_text_submission_too_long_is_refused_without_a_draft(r, admin):
    reply = admin.say("投稿 " + "字" * (lifecycle.LIMITS["text"] + 1))
    assert "过长" in reply or "最多" in reply
    assert lifecycle.list_drafts(r) == []


def test_submission_reply_states_the_screening_verdict(r, admin):
    assert "内容检查未发现问题" in admin.say("投稿 计算机学院举办程序设计竞赛")
    reply = admin.say("投稿 报名请加微信 abc123")
    assert "D2" in reply and "加微信" in reply


def test_prohibited_content_is_blocked_and_the_author_told_what(r, admin, responsible):
    reply = admin.say("投稿 大家都来练法轮功")
    assert "法轮功" in reply
    assert lifecycle.get(r, "D1").status == lifecycle.BLOCKED
    assert "没有等待你审核" in responsible.say("待审")


def test_view_highlights_what_screening_found(r, admin, responsible):
    admin.say("投稿 报名请加微信 abc123,名额有限")
    view = responsible.say("查看 D1")
    assert "【加微信 abc123】" in view and "内容检查" in view


# ---- covers and revisions (issue 13) -----------------------------------------------------


def test_article_without_a_picture_is_refused_at_submit_with_the_way_to_add_one(r, admin):
    admin.say("投稿")
    admin.say("今天举行了运动会。")
    admin.say("标题 校运动会")
    reply = admin.say("提交")
    assert "封面" in reply and "发送一张图片" in reply
    assert lifecycle.list_drafts(r) == []
    assert compose.load(r, admin.platform, admin.openid) is not None  # nothing lost
    admin.send(admin.inbound("image", pic_url="https://mmbiz.qpic.cn/a.jpg"))
    assert "已提交稿件 D1" in admin.say("提交")


def test_the_first_picture_is_the_cover_unless_another_is_chosen(r, admin):
    admin.say("投稿")
    admin.say("标题 校运动会")
    first = admin.send(admin.inbound("image", pic_url="https://mmbiz.qpic.cn/a.jpg"))
    assert "封面" in first
    second = admin.send(admin.inbound("image", pic_url="https://mmbiz.qpic.cn/b.jpg"))
    assert "封面" not in second
    assert "可选:1、2" in admin.say("封面 3")
    assert "第 2 段" in admin.say("封面 2")
    assert "2. [图片·封面]" in admin.say("预览")
    admin.say("提交")
    assert lifecycle.version(r, "D1").content["cover_image"] == "https://mmbiz.qpic.cn/b.jpg"


def test_revise_reopens_a_rejected_draft_and_submit_makes_the_next_version(
    r, w, admin, responsible
):
    admin.say("投稿 运动会通知:周五下午")
    responsible.say("查看 D1")
    responsible.say("驳回 D1 请写明地点")
    reply = admin.say("修改 D1")
    assert "开始修改稿件 D1" in reply and "运动会通知:周五下午" in reply
    assert "已删除一段文字" in admin.say("删除 1")
    admin.say("运动会通知:周五下午在东操场")
    reply = admin.say("提交")
    assert "已提交稿件 D1" in reply and "第 2 版" in reply
    draft = lifecycle.get(r, "D1")
    assert (draft.status, draft.version) == (lifecycle.IN_REVIEW, 2)
    assert lifecycle.version(r, "D1").content["text"] == "运动会通知:周五下午在东操场"
    assert review.state(r, "D1").given == {}
    assert compose.load(r, admin.platform, admin.openid) is None


def test_revise_voids_the_sign_offs_of_a_draft_in_review(r, w, admin, responsible, propaganda):
    admin.say("投稿 运动会通知")
    responsible.say("敏感 D1 重大事件")
    responsible.say("查看 D1")
    assert "还需" in responsible.say("同意 D1")
    admin.say("修改 D1")
    admin.say("地点:东操场")
    assert "第 2 版" in admin.say("提交")
    assert review.state(r, "D1").missing == ["responsible", "propaganda"]


def test_revise_keeps_an_articles_pictures_and_cover(r, admin, responsible):
    admin.say("投稿")
    admin.say("标题 校运动会")
    admin.say("开幕式")
    admin.send(admin.inbound("image", pic_url="https://mmbiz.qpic.cn/a.jpg"))
    admin.send(admin.inbound("image", pic_url="https://mmbiz.qpic.cn/b.jpg"))
    admin.say("封面 3")
    admin.say("提交")
    first = lifecycle.version(r, "D1").content
    responsible.say("查看 D1")
    responsible.say("驳回 D1 补一句闭幕")
    assert "3. [图片·封面]" in admin.say("修改 D1")
    admin.say("闭幕式")
    admin.say("提交")
    second = lifecycle.version(r, "D1").content
    assert second["cover_image"] == first["cover_image"] == "https://mmbiz.qpic.cn/b.jpg"
    assert second["content_html"] == first["content_html"] + "\n<p>闭幕式</p>"


@pytest.mark.parametrize(
    "who, withdrawn, expected",
    [("other", False, "只有稿件 D1 的作者"), ("author", True, "不能修改")],
)
def test_revise_is_refused_for_others_and_for_closed_drafts(r, w, admin, who, withdrawn, expected):
    admin.say("投稿 运动会通知")
    if withdrawn:
        admin.say("撤回 D1")
    phone = admin
    if who == "other":
        phone = Phone(r, w.platform, "oOther00000000001")
        phone.bind(w.other_admin)
    before = lifecycle.get(r, "D1")
    assert expected in phone.say("修改 D1")
    assert lifecycle.get(r, "D1") == before
    assert compose.load(r, phone.platform, phone.openid) is None


# ---- lists and times (issue 13) ----------------------------------------------------------


def test_pending_shows_title_or_first_words_age_and_what_is_missing(r, admin, responsible):
    admin.say("投稿 计算机学院举办第十二届程序设计竞赛,欢迎报名")
    admin.say("投稿")
    admin.say("标题 校运动会开幕")
    admin.send(admin.inbound("image", pic_url="https://mmbiz.qpic.cn/a.jpg"))
    admin.say("提交")
    reply = responsible.say("待审")
    assert "D1 文字「计算机学院举办第十二届程序设计竞…」" in reply
    assert "D2 图文「校运动会开幕」" in reply
    assert "送审 刚刚" in reply and "待第一责任人审核" in reply


def test_mine_shows_titles_and_the_reason_of_a_rejection(r, admin, responsible):
    admin.say("投稿 运动会通知")
    admin.say("投稿 图书馆闭馆通知")
    responsible.say("驳回 D1 请写明地点")
    reply = admin.say("我的稿件")
    assert "D1「运动会通知」 · 已退回:请写明地点" in reply
    assert "D2「图书馆闭馆通知」 · 待第一责任人审核 · 刚刚" in reply


def test_pending_and_mine_read_a_page_in_the_same_round_trips_for_2_drafts_as_for_20(r, w, counted):
    """Issue 17: a list reads its page together (drafts, headlines, what each needs), so a
    reviewer with twenty drafts waits no longer than one with two."""
    responsible, admin = Phone(counted, w.platform, "oResp01"), Phone(counted, w.platform, "oAdm01")
    responsible.bind(w.responsible)
    admin.bind(w.admin)
    for _ in range(2):
        submitted(r, w)
    few = counted.round_trips(lambda: responsible.say("待审"))
    few_mine = counted.round_trips(lambda: admin.say("我的稿件"))
    for _ in range(18):
        submitted(r, w)
    reply = responsible.say("待审")
    assert "(最近 20 篇)" in reply and "D20 文字" in reply and "D1 文字" in reply
    assert counted.round_trips(lambda: responsible.say("待审")) == few
    assert counted.round_trips(lambda: admin.say("我的稿件")) == few_mine


def test_pending_takes_three_round_trips_when_the_webhook_read_the_grants(r, counted):
    """Issue 17: the index, the drafts with their sign-offs, then their versions and what
    each still needs; the sender's grants came with the message (the webhook's claim script),
    and the reply is the one read with grants read here."""
    w = world(r, tier=1, platform_id="xy-wx")
    for _ in range(3):
        submitted(r, w)
    platform = platforms.get(r, w.platform)

    def pending(message: chat.Inbound) -> tuple[int, str]:
        replies = []

        def send() -> None:
            replies.append(chat.respond(counted, KEYRING, platform, message))

        return counted.round_trips(send), replies[0]

    for person in (w.responsible, w.propaganda):
        phone = Phone(counted, w.platform, f"o{person}")
        phone.bind(person)
        grants = frozenset(g.decode() for g in r.smembers(keys.person_roles(person)))
        trips, reply = pending(phone.inbound(text="待审", grants=grants))
        assert trips == 3
        assert "D3 文字" in reply and "D1 文字" in reply
        assert reply == phone.say("待审")


def test_status_of_a_rejected_draft_says_who_why_and_what_next(r, w, admin, responsible):
    admin.say("投稿 运动会通知")
    responsible.say("驳回 D1 请写明地点")
    reply = admin.say("状态 D1")
    assert "已退回" in reply and "退回原因:请写明地点(李书记(第一责任人)," in reply
    assert "北京时间" in reply and "修改 D1" in reply
    assert "待审核" not in reply


# ---- a draft nobody but its author could approve (issue 13) ------------------------------


@pytest.fixture
def sole_propaganda_admin(r, w):
    """The administrator is also the college's only propaganda-department reviewer."""
    people.grant_college_role(r, OPERATOR, w.admin, "propaganda")
    people.revoke_college_role(r, OPERATOR, w.propaganda, "propaganda")


def test_flagging_a_draft_only_its_author_could_sign_off_says_so_and_alerts(
    r, w, admin, sole_propaganda_admin
):
    admin.say("投稿 运动会通知")
    reply = admin.say("敏感 D1 重大事件")
    assert "须经党委宣传部审核" in reply and "只有作者本人" in reply and "已通报党委宣传部" in reply
    [record] = [rec for rec in audit.records(r) if rec["action"] == "draft.flag"]
    jobs.notify_reviewers(record["id"])  # the job the flag calls for (app.outbox.dispatch)
    [alert] = alerts.recent(r)
    assert alert.kind == "unsignable_draft" and alert.draft == "D1"
    assert "只有作者本人" in alert.message


def test_submitting_on_a_first_tier_platform_without_another_reviewer_says_so(r):
    first = world(r, tier=1, platform_id="xy-wx")
    people.grant_college_role(r, OPERATOR, first.admin, "propaganda")
    people.revoke_college_role(r, OPERATOR, first.propaganda, "propaganda")
    phone = Phone(r, first.platform, "oFirstTier0000001")
    phone.bind(first.admin)
    assert "须经党委宣传部审核,而有此资格的只有作者本人" in phone.say("投稿 学校新闻")


def test_a_draft_others_can_sign_off_raises_nothing(r, w, admin, propaganda):
    admin.say("投稿 运动会通知")
    reply = admin.say("敏感 D1 重大事件")
    assert "只有作者本人" not in reply
    [record] = [rec for rec in audit.records(r) if rec["action"] == "draft.flag"]
    assert not escalation.raise_for_event(r, record, "unsignable_draft")
    assert [a.kind for a in alerts.recent(r)] == ["sensitive_draft"] or alerts.recent(r) == []
