"""Messages the account pushes: customer-service window, templates, mass sends."""

import pytest
from wechatpy.events import MassSendJobFinishEvent, TemplateSendJobFinishEvent
from wechatpy.exceptions import WeChatClientException

from tests.sandbox_helpers import (
    SAMPLE_APPID,
    SAMPLE_SECRET,
    SandboxClient,
    register_sample_account,
    running_sandbox,
)

TEMPLATE = "review-notice-0000000000000000000000000001"


@pytest.fixture
def sandbox(receiver):
    with running_sandbox() as (url, control, world):
        register_sample_account(control, server_url=receiver.url)
        control.add_template(SAMPLE_APPID, template_id=TEMPLATE, title="审核提醒")
        staff = control.add_user(SAMPLE_APPID, nickname="张老师", role="staff", tags=[2])
        student = control.add_user(SAMPLE_APPID, nickname="李同学")
        client = SandboxClient(url, SAMPLE_APPID, SAMPLE_SECRET)
        yield control, client, staff["openid"], student["openid"]


def errcode_of(call) -> int:
    with pytest.raises(WeChatClientException) as raised:
        call()
    return raised.value.errcode


def received(control, openid, via=None) -> list[dict]:
    chat = control.user(SAMPLE_APPID, openid)["chat"]
    return [line for line in chat if line["direction"] == "received" and via in (None, line["via"])]


def test_custom_message_needs_the_user_to_have_written(sandbox):
    """Before the user writes, custom/send is 45015; after, it reaches the user's chat."""
    control, client, staff, _ = sandbox
    assert errcode_of(lambda: client.message.send_text(staff, "草稿 D42 待审")) == 45015
    control.send(SAMPLE_APPID, staff, type="text", content="我的待办")
    client.message.send_text(staff, "草稿 D42 待审")
    assert received(control, staff, "客服消息")[-1]["content"] == "草稿 D42 待审"


def test_custom_message_window_holds_five_for_48_hours(sandbox):
    """A user's message allows five pushes (then 45047) and closes after 48 hours (45015)."""
    control, client, staff, _ = sandbox
    control.send(SAMPLE_APPID, staff, type="text", content="你好")
    for number in range(5):
        client.message.send_text(staff, f"第 {number + 1} 条")
    assert errcode_of(lambda: client.message.send_text(staff, "第 6 条")) == 45047
    control.send(SAMPLE_APPID, staff, type="text", content="还在")
    control.advance_clock(48 * 3600 + 1)
    assert errcode_of(lambda: client.message.send_text(staff, "太晚了")) == 45015


def test_subscribe_opens_a_short_window(sandbox):
    """Subscribing allows three pushes within a minute."""
    control, client, _, student = sandbox
    control.send(SAMPLE_APPID, student, type="event", event="subscribe")
    for _ in range(3):
        client.message.send_text(student, "欢迎关注")
    assert errcode_of(lambda: client.message.send_text(student, "再来一条")) == 45047
    control.advance_clock(61)
    control.send(SAMPLE_APPID, student, type="event", event="subscribe")
    client.message.send_text(student, "欢迎回来")


def test_custom_message_bad_input(sandbox):
    """Unknown openid 40003, unknown msgtype 40008, empty text 44004, unverified account 48001."""
    control, client, staff, _ = sandbox
    control.send(SAMPLE_APPID, staff, type="text", content="你好")
    assert errcode_of(lambda: client.message.send_text("o" + "0" * 27, "hi")) == 40003
    bad_type = {"touser": staff, "msgtype": "sticker", "sticker": {}}
    assert errcode_of(lambda: client.post("message/custom/send", data=bad_type)) == 40008
    assert errcode_of(lambda: client.message.send_text(staff, "")) == 44004
    control.change_account(SAMPLE_APPID, verified=False, kind="subscription")
    assert errcode_of(lambda: client.message.send_text(staff, "hi")) == 48001


def test_template_message_and_its_finish_event(sandbox, receiver):
    """A template message reaches the chat and TEMPLATESENDJOBFINISH reaches the server."""
    control, client, staff, _ = sandbox
    data = {"thing1": {"value": "招生简章"}, "thing2": {"value": "待审核"}}
    msgid = client.message.send_template(staff, TEMPLATE, data)["msgid"]
    assert received(control, staff, "模板消息")[-1]["data"] == {
        "thing1": "招生简章",
        "thing2": "待审核",
    }
    events = control.wait_until(
        lambda: [m for m in receiver.messages() if isinstance(m, TemplateSendJobFinishEvent)],
        what="TEMPLATESENDJOBFINISH",
    )
    assert (events[0].id, events[0].status) == (msgid, "success")


def test_template_message_errors(sandbox):
    """Unknown template 40037, unsubscribed user 43004, refused 43101, 公众号 48001."""
    control, client, staff, student = sandbox
    data = {"thing1": {"value": "x"}}
    assert errcode_of(lambda: client.message.send_template(staff, "nope", data)) == 40037
    control.send(SAMPLE_APPID, student, type="event", event="unsubscribe")
    assert errcode_of(lambda: client.message.send_template(student, TEMPLATE, data)) == 43004
    control.change_user(SAMPLE_APPID, staff, refuses_templates=True)
    assert errcode_of(lambda: client.message.send_template(staff, TEMPLATE, data)) == 43101
    control.change_account(SAMPLE_APPID, kind="subscription")
    assert errcode_of(lambda: client.message.send_template(staff, TEMPLATE, data)) == 48001


def test_template_client_msg_id_is_deduplicated(sandbox):
    """The same client_msg_id for the same user within 10 minutes sends only once."""
    control, client, staff, _ = sandbox
    body = {"touser": staff, "template_id": TEMPLATE, "client_msg_id": "D42-v1"}
    body["data"] = {"thing1": {"value": "x"}}
    first = client.post("message/template/send", data=body)["msgid"]
    assert client.post("message/template/send", data=body)["msgid"] == first
    assert len(received(control, staff, "模板消息")) == 1


def test_mass_send_with_wechatpy_and_its_finish_event(sandbox, receiver):
    """send_mass_text (1.8.18's group_id filter) reaches every follower, then MASSSENDJOBFINISH."""
    control, client, staff, student = sandbox
    answer = client.message.send_mass_text(None, "明天停课", is_to_all=True, client_msg_id="c1")
    assert answer["errmsg"] == "send job submission success"
    event = control.wait_until(
        lambda: [m for m in receiver.messages() if isinstance(m, MassSendJobFinishEvent)],
        what="MASSSENDJOBFINISH",
    )[0]
    assert (event.id, event.status, event.sent_count) == (answer["msg_id"], "send success", 2)
    for openid in (staff, student):
        assert received(control, openid, "群发")[-1]["content"] == "明天停课"
    assert client.message.get_mass(answer["msg_id"])["msg_status"] == "SEND_SUCCESS"


def test_mass_send_clientmsgid_is_deduplicated(sandbox):
    """A repeated clientmsgid within 24 h is 45065 and names the first msg_id; then it expires."""
    control, client, _, _ = sandbox
    body = {"filter": {"is_to_all": False, "tag_id": 2}, "msgtype": "text"}
    body.update(text={"content": "审核通过"}, clientmsgid="publish:D42:abc")
    first = client.post("message/mass/sendall", data=body)
    with pytest.raises(WeChatClientException) as raised:
        client.post("message/mass/sendall", data=body)
    assert raised.value.errcode == 45065
    assert raised.value.response.json()["msg_id"] == first["msg_id"]
    control.advance_clock(24 * 3600 + 1)
    assert client.post("message/mass/sendall", data=body)["msg_id"] != first["msg_id"]


def test_mass_send_without_clientmsgid_dedupes_on_content(sandbox):
    """Without clientmsgid, the same content to the same audience is a duplicate too."""
    _, client, _, _ = sandbox
    client.message.send_mass_text(None, "同一条", is_to_all=True)
    assert (
        errcode_of(lambda: client.message.send_mass_text(None, "同一条", is_to_all=True)) == 45065
    )
    client.message.send_mass_text(None, "另一条", is_to_all=True)


def test_mass_send_limits(sandbox):
    """A long clientmsgid is 45067; a 公众号 gets one mass send a day (45028)."""
    control, client, _, _ = sandbox
    long_id = "x" * 65
    assert errcode_of(
        lambda: client.message.send_mass_text(None, "a", True, client_msg_id=long_id)
    ) == (45067)
    control.change_account(SAMPLE_APPID, kind="subscription")
    client.message.send_mass_text(None, "今天第一条", is_to_all=True)
    assert (
        errcode_of(lambda: client.message.send_mass_text(None, "第二条", is_to_all=True)) == 45028
    )


def test_mass_preview_goes_to_one_user(sandbox):
    """A preview reaches only the named user and answers "preview success"."""
    control, client, staff, student = sandbox
    answer = client.message.send_mass_text(staff, "预览内容", preview=True)
    assert answer["errmsg"] == "preview success"
    assert received(control, staff, "群发预览")[-1]["content"] == "预览内容"
    assert received(control, student) == []


def test_api_answers_while_a_callback_waits_for_the_server(sandbox, receiver):
    """A callback the server has not answered yet holds up neither the API nor the control API."""
    control, client, staff, _ = sandbox
    control.configure(callback_timeout=30.0)  # longer than the receiver holds the request
    receiver.hold = 1
    client.message.send_template(staff, TEMPLATE, {"thing1": {"value": "x"}})
    control.wait_until(lambda: receiver.received, what="TEMPLATESENDJOBFINISH held")
    token = client.access_token
    quick = SandboxClient(
        control.base_url, SAMPLE_APPID, SAMPLE_SECRET, access_token=token, timeout=5
    )
    assert quick.get("draft/count") == {"total_count": 0}
    assert control.user(SAMPLE_APPID, staff)["openid"] == staff
    receiver.release.set()
    control.wait_idle()
