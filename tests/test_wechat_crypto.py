"""The WeChat signature and safe-mode layer against published test vectors.

Vectors: the sample of Tencent's WXBizMsgCrypt demo (token "spamtest", appid
wx2c2769f8efd9abc2), and wechatpy's test-suite (tests/test_utils.py: check_signature;
tests/test_crypto.py: encrypt and decrypt with a fixed random prefix).
"""
from __future__ import annotations

import base64

import pytest

from bot.channels.wechat_crypto import (
    MessageCrypto,
    WeChatCryptoError,
    cdata,
    check_signature,
    decode_aes_key,
    signature,
)

# Tencent's sample (WXBizMsgCrypt demo).
DEMO_TOKEN = "spamtest"
DEMO_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
DEMO_APPID = "wx2c2769f8efd9abc2"
DEMO_TIMESTAMP = "1409735669"
DEMO_NONCE = "1320562132"
DEMO_MSG_SIGNATURE = "5d197aaffba7e9b25a30732f161a50dee96bd5fa"
DEMO_SIGNATURE = "16120ec1b8dbb870f510d87ce6bc2463eae6ca1a"  # the URL's plain `signature` for the same request
DEMO_ENCRYPT = (
    "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2L"
    "dJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5"
    "VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgC"
    "SUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9Ghg"
    "lF2PE="
)

# wechatpy's tests/test_crypto.py.
PY_TOKEN = "123456"
PY_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
PY_APPID = "wx49f0ab532d5d035a"
PY_REPLY = """<xml>
<MsgType><![CDATA[text]]></MsgType>
<Content><![CDATA[test]]></Content>
<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>
<ToUserName><![CDATA[messense]]></ToUserName>
<AgentID>1</AgentID>
<CreateTime>1411525903</CreateTime>
</xml>"""
PY_ENCRYPTED_REPLY = """<xml>
<Encrypt><![CDATA[9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3nba4HMOTzHrluLBYqxgNcBqGsL8GqxlhZgURnAtObvesEl5nZ+uBE8bviY0LWke8Zy9V/QYKxNV2FqllNXcfmstttyIkMKCCmVbCFM2JTF5wY0nFhHZSjPUL2Q1qvSUCUld+/WIXrx0oyKQmpB6o8NRrrNrsDf03oxI1p9FxUgMnwKKZeOA/uu+2IEvEBtb7muXsVbwbgX05UPPJvFurDXafG0RQyPR+mf1nDnAtQmmNOuiR5MIkdQ39xn1vWwi1O5oazPoQJz0nTYjxxEE8kv3kFxtAGVRe3ypD3WeK2XeFYFMNMpatF9XiKzHo3]]></Encrypt>
<MsgSignature><![CDATA[407518b7649e86ef23978113f92d27afa9296533]]></MsgSignature>
<TimeStamp>1411525903</TimeStamp>
<Nonce><![CDATA[461056294]]></Nonce>
</xml>"""  # noqa: E501
PY_ENCRYPT = (
    "RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHCrsTyeDXzF6Bv283dG"
    "ymzxh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpXaG4+BiYyolBug/gYNx410cvkKR2/nPwBiT"
    "+P4hIiOAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQiMS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdsh"
    "oQgWYEvccTKe7FS709/5t6NMxuGhcUGAPOQipvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRx"
    "thuL0="
)
PY_MSG_SIGNATURE = "74d92dfeb87ba7c714f89d98870ae5eb62dff26d"


def test_url_signature_vectors():
    # wechatpy tests/test_utils.py
    assert check_signature("test", "f21891de399b4e33a1a93c9a7b8a8fffb5a443ff", "1410685589", "test")
    assert not check_signature("test", "f21891de399b4e33a1a93c9a7b8a8fffb5a443fe", "1410685589", "test")
    # the demo's request
    assert signature(DEMO_TOKEN, DEMO_TIMESTAMP, DEMO_NONCE) == DEMO_SIGNATURE
    assert check_signature(DEMO_TOKEN, DEMO_SIGNATURE.upper(), DEMO_TIMESTAMP, DEMO_NONCE)
    assert not check_signature(DEMO_TOKEN, DEMO_SIGNATURE, DEMO_TIMESTAMP, "1320562133")
    assert not check_signature(DEMO_TOKEN, None, DEMO_TIMESTAMP, DEMO_NONCE)
    assert not check_signature(DEMO_TOKEN, DEMO_SIGNATURE, None, DEMO_NONCE)
    assert not check_signature("", signature("", DEMO_TIMESTAMP, DEMO_NONCE), DEMO_TIMESTAMP, DEMO_NONCE)


def test_the_demo_message_decrypts_with_its_msg_signature():
    crypto = MessageCrypto(DEMO_TOKEN, DEMO_KEY, DEMO_APPID)
    assert crypto.msg_signature(DEMO_TIMESTAMP, DEMO_NONCE, DEMO_ENCRYPT) == DEMO_MSG_SIGNATURE
    assert crypto.check_msg_signature(DEMO_MSG_SIGNATURE, DEMO_TIMESTAMP, DEMO_NONCE, DEMO_ENCRYPT)
    assert not crypto.check_msg_signature(DEMO_MSG_SIGNATURE, DEMO_TIMESTAMP, DEMO_NONCE, DEMO_ENCRYPT[:-4] + "AAA=")
    message = crypto.decrypt(DEMO_ENCRYPT).decode()
    assert "<FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName>" in message
    assert "<Content><![CDATA[abcdteT]]></Content>" in message
    assert "<MsgId>6054768590064713728</MsgId>" in message


def test_wechatpy_vectors_decrypt_and_encrypt_byte_for_byte():
    crypto = MessageCrypto(PY_TOKEN, PY_KEY, PY_APPID)
    assert crypto.check_msg_signature(PY_MSG_SIGNATURE, "1411525903", "461056294", PY_ENCRYPT)
    message = crypto.decrypt(PY_ENCRYPT).decode()
    assert "<Content><![CDATA[test]]></Content>" in message and "<![CDATA[messense]]>" in message
    # with wechatpy's fixed random prefix, our envelope is exactly theirs
    assert crypto.encrypt_reply(PY_REPLY, "461056294", "1411525903", random_prefix=b"1234567890123456") == PY_ENCRYPTED_REPLY


@pytest.mark.parametrize("message", ["", "a", "我是中文abcd123", "x" * 31, "y" * 32, "z" * 33, "长" * 3000])
def test_round_trip(message):
    crypto = MessageCrypto(DEMO_TOKEN, DEMO_KEY, DEMO_APPID)
    encrypted = crypto.encrypt(message)
    assert len(base64.b64decode(encrypted)) % 32 == 0  # padded to WeChat's 32 bytes
    assert crypto.decrypt(encrypted).decode() == message
    assert crypto.encrypt(message) != encrypted  # a fresh random prefix each time


def test_another_accounts_message_is_refused():
    ours = MessageCrypto(DEMO_TOKEN, DEMO_KEY, DEMO_APPID)
    theirs = MessageCrypto(DEMO_TOKEN, DEMO_KEY, "wx0000000000000000")
    with pytest.raises(WeChatCryptoError, match="another AppID"):
        ours.decrypt(theirs.encrypt("<xml/>"))


@pytest.mark.parametrize("bad", ["not base64!", "", base64.b64encode(b"x" * 15).decode(), base64.b64encode(b"\0" * 32).decode()])
def test_malformed_ciphertext_is_an_error_not_a_crash(bad):
    with pytest.raises(WeChatCryptoError):
        MessageCrypto(DEMO_TOKEN, DEMO_KEY, DEMO_APPID).decrypt(bad)


def test_wrong_key_is_refused():
    encrypted = MessageCrypto(PY_TOKEN, PY_KEY, DEMO_APPID).encrypt("hello")
    with pytest.raises(WeChatCryptoError):
        MessageCrypto(DEMO_TOKEN, DEMO_KEY, DEMO_APPID).decrypt(encrypted)


@pytest.mark.parametrize("key", ["short", DEMO_KEY + "A", DEMO_KEY[:-1] + "!"])
def test_malformed_encoding_aes_key(key):
    with pytest.raises(WeChatCryptoError):
        decode_aes_key(key)


def test_cdata_cannot_be_closed_early():
    assert cdata("a]]>b") == "<![CDATA[a]]]]><![CDATA[>b]]>"


def test_cross_check_with_wechatpy():
    """wechatpy (the test extra) decrypts what we encrypt, and we decrypt what it encrypts."""
    from wechatpy.crypto import WeChatCrypto

    theirs = WeChatCrypto(DEMO_TOKEN, DEMO_KEY, DEMO_APPID)
    ours = MessageCrypto(DEMO_TOKEN, DEMO_KEY, DEMO_APPID)
    envelope = ours.encrypt_reply("<xml><Content><![CDATA[你好]]></Content></xml>", DEMO_NONCE, DEMO_TIMESTAMP)
    encrypted = envelope.split("<Encrypt><![CDATA[", 1)[1].split("]]>", 1)[0]
    signed = ours.msg_signature(DEMO_TIMESTAMP, DEMO_NONCE, encrypted)
    incoming = f"<xml><ToUserName><![CDATA[gh_x]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    assert "你好" in theirs.decrypt_message(incoming, signed, DEMO_TIMESTAMP, DEMO_NONCE)
    their_envelope = theirs.encrypt_message("<xml><Content><![CDATA[hi]]></Content></xml>", DEMO_NONCE, DEMO_TIMESTAMP)
    their_encrypted = their_envelope.split("<Encrypt><![CDATA[", 1)[1].split("]]>", 1)[0]
    assert b"<![CDATA[hi]]>" in ours.decrypt(their_encrypted)
