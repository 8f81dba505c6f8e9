"""Black box: an independent WeChat client (wechatpy 1.8.18) plays WeChat's server. It builds a
text message, a menu click and an image message, signs them (and in safe mode encrypts them) with
its own code, POSTs them over real HTTP on loopback to the running callback, and reads our passive
replies with its own parser (parse_message; in safe mode WeChatCrypto.decrypt_message checks our
signature first). None of our WeChat code is used on WeChat's side of the wire."""
from __future__ import annotations

import itertools
import secrets
import time

import pytest
import xmltodict  # wechatpy's own XML library (it parses with it)
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import WeChatSigner

from bot.channels.wechat_menu import COMMANDS
from tests import test_wechat
from tests.fake_wechat_api import APP_ID
from tests.test_wechat import ACCOUNT, AES_KEY, RESIDENT, TOKEN, expected_reply

api, make_callback = test_wechat.api, test_wechat.make_callback  # fixtures

IMAGE_HOST = "mmbiz.qpic.cn"  # where WeChat keeps a resident's photos
_msg_ids = itertools.count(7100000000000000001)


class WeChatServer:
    """WeChat's side of the callback, all of it wechatpy's (and xmltodict's) code."""

    def __init__(self, callback, safe: bool, token: str = TOKEN) -> None:
        self.callback, self.safe, self.token = callback, safe, token
        self.crypto = WeChatCrypto(token, AES_KEY, APP_ID)

    def xml(self, msg_type: str, **fields: str) -> str:
        message = {"ToUserName": ACCOUNT, "FromUserName": RESIDENT, "CreateTime": str(int(time.time())),
                   "MsgType": msg_type, **fields}
        if msg_type != "event":
            message["MsgId"] = str(next(_msg_ids))
        return xmltodict.unparse({"xml": message}, full_document=False)

    def signed(self, xml: str) -> tuple[dict[str, str], str]:
        timestamp, nonce = str(int(time.time())), str(secrets.randbelow(10**10))
        signer = WeChatSigner()
        signer.add_data(self.token, timestamp, nonce)
        query = {"signature": signer.signature, "timestamp": timestamp, "nonce": nonce, "openid": RESIDENT}
        if not self.safe:
            return query, xml
        envelope = xmltodict.parse(self.crypto.encrypt_message(xml, nonce, timestamp))["xml"]
        query.update(encrypt_type="aes", msg_signature=envelope["MsgSignature"])
        return query, xmltodict.unparse({"xml": {"ToUserName": ACCOUNT, "Encrypt": envelope["Encrypt"]}},
                                        full_document=False)

    async def post(self, msg_type: str, **fields: str):
        """POST the message as WeChat does; our reply as wechatpy reads it (None for "success")."""
        self.callback.api.wrote(RESIDENT)  # the resident's 48 hours open at WeChat's, as they do there
        query, body = self.signed(self.xml(msg_type, **fields))
        response = await self.callback.post_raw(body, query)
        text = await response.text()
        assert response.status == 200, text
        if text == "success":
            return None
        if self.safe:
            envelope = xmltodict.parse(text)["xml"]
            assert envelope["Nonce"] == query["nonce"]
            text = self.crypto.decrypt_message(text, envelope["MsgSignature"], envelope["TimeStamp"], envelope["Nonce"])
        reply = parse_message(text)
        assert (reply.type, reply.source, reply.target) == ("text", ACCOUNT, RESIDENT), reply
        return reply


@pytest.mark.parametrize("safe", [False, True], ids=["plain", "safe-mode"])
async def test_wechatpy_talks_to_the_callback_text_click_and_image(make_callback, api, services, safe):
    wechat = WeChatServer(await make_callback(safe=safe), safe)
    api.add_media("MEDIA_ID_blackbox_1")

    greeting = await wechat.post("text", Content="你好")
    assert greeting.content == await expected_reply(services, text="你好")

    report = await wechat.post("event", Event="CLICK", EventKey="report")  # the menu's 我要反映
    assert report.content == await expected_reply(services, text=COMMANDS["report"])
    where = await wechat.post("text", Content="楼道里的灯坏了好几天,晚上上下楼看不见")
    assert "问题在哪里" in where.content
    photos = await wechat.post("text", Content="塘桥新村3号楼")
    assert "照片" in photos.content

    photo = await wechat.post("image", PicUrl=f"https://{IMAGE_HOST}/mmbiz_jpg/blackbox/0", MediaId="MEDIA_ID_blackbox_1")
    assert "已收到第1张照片" in photo.content
    assert [c.query["media_id"] for c in api.calls_to("/cgi-bin/media/get")] == ["MEDIA_ID_blackbox_1"]

    assert await wechat.post("event", Event="CLICK", EventKey="not_ours") is None  # nothing to say: "success"


@pytest.mark.parametrize("safe", [False, True], ids=["plain", "safe-mode"])
async def test_a_message_wechatpy_signs_with_another_token_is_refused(make_callback, safe):
    callback = await make_callback(safe=safe)
    forger = WeChatServer(callback, safe, token="not-our-token")
    query, body = forger.signed(forger.xml("text", Content="你好"))
    response = await callback.post_raw(body, query)
    assert response.status == 403
