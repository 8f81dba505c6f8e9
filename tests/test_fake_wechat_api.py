"""The fake WeChat API is as strict as WeChat: a test against it that passes means something."""
from __future__ import annotations

import pytest

from bot.channels.wechat_api import WeChatApi, WeChatApiError, WeChatUnavailable
from tests.fake_wechat_api import APP_ID, APP_SECRET, FakeWeChatApi

OPENID = "oFAKE-openid-0001"


@pytest.fixture
async def fake():
    async with FakeWeChatApi() as api:
        yield api


@pytest.fixture
async def client(fake):
    api = WeChatApi(APP_ID, APP_SECRET, fake.base_url)
    yield api
    await api.close()


async def test_customer_service_messages_only_within_48_hours_of_the_residents_message(fake, client):
    with pytest.raises(WeChatApiError) as never_wrote:
        await client.send_text(OPENID, "你好")
    assert never_wrote.value.errcode == 45015
    fake.wrote(OPENID, hours_ago=47)
    await client.send_text(OPENID, "你好")
    fake.advance(hours=2)
    with pytest.raises(WeChatApiError) as too_late:
        await client.send_text(OPENID, "你好")
    assert too_late.value.errcode == 45015 and fake.texts_to(OPENID) == ["你好"]
    fake.wrote(OPENID)
    fake.unfollow(OPENID)
    with pytest.raises(WeChatApiError) as unfollowed:
        await client.send_text(OPENID, "你好")
    assert unfollowed.value.errcode == 43004


async def test_a_wrong_secret_gets_no_token(fake):
    api = WeChatApi(APP_ID, "not-the-secret", fake.base_url)
    try:
        with pytest.raises(WeChatApiError) as refused:
            await api.send_text(OPENID, "你好")
        assert refused.value.errcode == 40125 and fake.sent == []
    finally:
        await api.close()


async def test_template_messages_need_a_registered_template_with_exactly_its_fields(fake, client):
    fake.add_template("TPL1", "thing1", "character_string2")
    good = {"touser": OPENID, "template_id": "TPL1",
            "data": {"thing1": {"value": "已答复"}, "character_string2": {"value": "TQ-2612-0001"}}}
    assert (await client.call("/cgi-bin/message/template/send", good))["msgid"]
    for bad, code in [({**good, "template_id": "OTHER"}, 40037),
                      ({**good, "data": {"thing1": {"value": "已答复"}}}, 47003),
                      ({**good, "data": {**good["data"], "thing1": {"value": "长" * 21}}}, 47003),
                      ({**good, "url": "http://example.org/"}, 40039)]:
        with pytest.raises(WeChatApiError) as refused:
            await client.call("/cgi-bin/message/template/send", bad)
        assert refused.value.errcode == code
    assert len(fake.templates_to(OPENID)) == 1


async def test_menus_are_checked_as_wechat_checks_them(fake, client):
    click = {"type": "click", "name": "问一问", "key": "ask"}
    await client.call("/cgi-bin/menu/create", {"button": [click]})
    assert fake.menu == {"button": [click]}
    for bad in ({"button": [click] * 4}, {"button": [{**click, "name": "名" * 6}]},
                {"button": [{"name": "服务", "sub_button": [click, click]}]}, {"button": [{**click, "type": "view"}]}):
        with pytest.raises(WeChatApiError):
            await client.call("/cgi-bin/menu/create", bad)
    assert fake.menu == {"button": [click]}


async def test_injected_errcodes_and_http_failures_and_a_stale_token(fake, client):
    fake.wrote(OPENID)
    fake.fail_next = [-1]
    with pytest.raises(WeChatApiError) as busy:
        await client.send_text(OPENID, "你好")
    assert busy.value.errcode == -1
    fake.http_fail_next = [502]
    with pytest.raises(WeChatUnavailable):
        await client.send_text(OPENID, "你好")
    fake.expire_next = 1  # one refresh of the token, then the message goes
    await client.send_text(OPENID, "你好")
    assert fake.texts_to(OPENID) == ["你好"] and len(fake.token_requests) == 2
