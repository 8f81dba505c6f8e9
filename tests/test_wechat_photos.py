"""Photos: a WeChat resident's photo is fetched once, at intake, by its MediaId through media/get
(or from its PicUrl, only on WeChat's own image hosts over https, at a public address, without
following a redirect) into the ticket's photos; on Telegram a photo is a file id, never a path
or a URL. Each hostile form is fed in and nothing is read or fetched. Real HTTP on loopback:
the web app, the fake WeChat API, a trap server that counts every request it gets, and
"WeChat's image host" served over TLS on loopback."""
from __future__ import annotations

import datetime as dt
import functools
import ipaddress
import json
import socket
import ssl

import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver

from bot.photo_files import PhotoFiles, PhotoUnavailable, fetch_wechat_picture
from tests import test_wechat
from tests.fake_wechat_api import PNG
from tests.test_wechat import message_xml
from tests.test_wechat_choices import number_of

api, make_callback, slow_handler = test_wechat.api, test_wechat.make_callback, test_wechat.slow_handler  # fixtures

IMAGE_HOST = "mmbiz.qpic.cn"


class Trap:
    """A server on loopback (http, and https with a certificate for WeChat's image host) that
    counts every request it gets."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        self.runners: list[web.AppRunner] = []
        self.http_port = self.https_port = 0
        self.client_ssl: ssl.SSLContext | None = None

    async def start(self, tmp_path) -> Trap:
        app = web.Application()

        async def anything(request: web.Request) -> web.StreamResponse:
            self.hits.append(request.path)
            if request.path == "/good.png":
                return web.Response(body=PNG, content_type="image/png")
            if request.path == "/redirect":
                raise web.HTTPFound(f"http://127.0.0.1:{self.http_port}/secret")
            return web.Response(text="root:x:0:0:secret")

        app.router.add_route("*", "/{tail:.*}", anything)
        server_ssl, self.client_ssl = tls_for(IMAGE_HOST, tmp_path)
        for context in (None, server_ssl):
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context).start()
            self.runners.append(runner)
        self.http_port, self.https_port = (r.addresses[0][1] for r in self.runners)
        return self

    async def close(self) -> None:
        for runner in self.runners:
            await runner.cleanup()


def tls_for(host: str, tmp_path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A self-signed certificate for `host`: the server's context, and a client's that trusts it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cafile=str(cert_file))
    return server, client


class Loopback(AbstractResolver):
    """Every name resolves to 127.0.0.1 (as a hostile DNS answer would)."""

    async def resolve(self, host, port=0, family=socket.AF_INET):
        return [{"hostname": host, "host": "127.0.0.1", "port": port, "family": socket.AF_INET, "proto": 0,
                 "flags": socket.AI_NUMERICHOST}]

    async def close(self) -> None:
        pass


def loopback_allowed(address) -> bool:
    return address == ipaddress.ip_address("127.0.0.1")


@pytest.fixture
async def trap(tmp_path):
    server = await Trap().start(tmp_path)
    yield server
    await server.close()


def kept(callback) -> list:
    folder = callback.channel.photos.folder
    return sorted(folder.iterdir()) if folder.exists() else []


async def test_a_media_id_photo_is_fetched_once_into_the_ticket_and_shown_on_the_console(make_callback, api, services):
    callback = await make_callback()
    api.add_media("MEDIA_ID_photo_1")
    await callback.say("/report")
    await callback.say("小区门口的路灯坏了一个多星期,晚上很黑")
    await callback.say("塘桥新村5号楼门口")
    image = message_xml("image", MediaId="MEDIA_ID_photo_1", PicUrl=f"https://{IMAGE_HOST}/mmbiz_jpg/x/0")
    status, answer = await callback.post(image)
    assert status == 200 and "第1张照片" in test_wechat.content_of(answer)
    await callback.post(image)  # WeChat's retry of the same message: not fetched again
    phone = await callback.say(number_of("完成", test_wechat.content_of(answer)))
    confirm = await callback.say(number_of("跳过", phone))
    assert "TQ-" in await callback.say(number_of("提交", confirm))

    assert [c.query["media_id"] for c in api.calls_to("/cgi-bin/media/get")] == ["MEDIA_ID_photo_1"]
    from tests.conftest import query_rows

    [(photos,)] = query_rows(services.store, "SELECT photos FROM ticket")
    assert json.loads(photos) == ["MEDIA_ID_photo_1"]
    # the console's photo page serves what was kept, without fetching anything
    console_photos = PhotoFiles(callback.channel.photos.folder, None, None)
    path, kind = await console_photos.get("wechat", "MEDIA_ID_photo_1")
    assert kind == "image/png" and path.read_bytes() == PNG and len(api.calls_to("/cgi-bin/media/get")) == 1


@pytest.mark.parametrize("media_id", ["file:///etc/passwd", "/etc/passwd", "../../etc/passwd", "http://127.0.0.1/x",
                                      "x" * 300], ids=["file-uri", "path", "relative-path", "url", "too-long"])
async def test_a_hostile_media_id_is_refused_and_nothing_is_fetched(make_callback, api, slow_handler, trap, media_id):
    callback = await make_callback()
    status, _ = await callback.post(message_xml("image", MediaId=media_id, PicUrl=f"http://127.0.0.1:{trap.http_port}/x"))
    assert status == 400 and slow_handler.calls == []  # refused as malformed: nothing handled or stored
    assert api.calls_to("/cgi-bin/media/get") == [] and trap.hits == [] and kept(callback) == []


@pytest.mark.parametrize("pic_url", [
    "file:///etc/passwd", "/etc/passwd", "http://127.0.0.1:{http}/", "http://10.0.0.1/", "https://127.0.0.1:{https}/good.png",
    f"http://{IMAGE_HOST}/good.png", f"https://{IMAGE_HOST}.evil.example/good.png", f"https://user@{IMAGE_HOST}/good.png",
    f"https://{IMAGE_HOST}:{{https}}/good.png",
], ids=["file-uri", "path", "loopback", "private", "loopback-https", "plain-http", "look-alike-host", "userinfo", "other-port"])
async def test_a_hostile_pic_url_is_never_fetched(make_callback, api, slow_handler, trap, pic_url):
    callback = await make_callback()
    # WeChat's own image host would answer from loopback, if anything reached it
    callback.channel.fetch_picture = functools.partial(fetch_wechat_picture, resolver=Loopback(), ssl=trap.client_ssl,
                                                       allowed=loopback_allowed)
    url = pic_url.format(http=trap.http_port, https=trap.https_port)
    await callback.post(message_xml("image", MediaId="MEDIA_gone", PicUrl=url))  # media/get: 40007
    [inbound] = slow_handler.calls
    assert inbound.photos == () and inbound.unsupported == "photo"
    assert trap.hits == [] and kept(callback) == []


async def test_wechats_image_host_is_fetched_over_https_but_a_redirect_is_not_followed(trap):
    good = f"https://{IMAGE_HOST}:{trap.https_port}/good.png"
    fetch = functools.partial(fetch_wechat_picture, resolver=Loopback(), ssl=trap.client_ssl)
    with pytest.raises(PhotoUnavailable):  # WeChat's host name resolving to loopback: refused before connecting
        await fetch(good.replace(f":{trap.https_port}", ""))
    assert trap.hits == []
    # the port is refused by the URL check too; served from loopback here only to show that a
    # redirect is refused, the fetch is called past that check
    fetch_any_port = functools.partial(fetch, allowed=loopback_allowed)
    import bot.photo_files as photo_files

    original = photo_files.wechat_picture_url
    photo_files.wechat_picture_url = lambda url: url
    try:
        assert await fetch_any_port(good) == PNG  # the control: this path fetches
        with pytest.raises(PhotoUnavailable, match="302"):
            await fetch_any_port(good.replace("/good.png", "/redirect"))
    finally:
        photo_files.wechat_picture_url = original
    assert trap.hits == ["/good.png", "/redirect"]  # never /secret


@pytest.mark.parametrize("file_id", ["file:///etc/passwd", "/etc/passwd", "http://127.0.0.1/x", "../secrets.env"])
async def test_a_telegram_photo_is_a_file_id_and_nothing_else(tmp_path, file_id):
    photos = PhotoFiles(tmp_path, "123:TOKEN", "http://127.0.0.1:9/bot")  # nothing listens: it must not even try
    with pytest.raises(PhotoUnavailable, match="not a file id"):
        await photos.get("telegram", file_id)
    assert list(tmp_path.iterdir()) == []




@pytest.mark.parametrize("file_id", ["file:///etc/passwd", "/etc/passwd", "pyproject.toml", "Makefile"])
async def test_the_telegram_sender_never_reads_a_local_file(server, services, file_id, monkeypatch):
    """A photo row naming a path is refused (not retried); a file id that happens to be the
    name of a local file (the tests run in the repository, which has a Makefile) goes as an id:
    the library never opens it."""
    from telegram import Bot

    from bot.channels.telegram_outbox import TelegramSender
    from bot.delivery import Refused
    from db.models import OutboxMessage

    server.add_chat(5, "private")
    row = OutboxMessage(id=1, channel="telegram", chat_id="5", purpose="photo", text="", photo=file_id)
    opened: list[str] = []
    real_open = open
    monkeypatch.setattr("builtins.open", lambda path, *a, **k: opened.append(str(path)) or real_open(path, *a, **k))
    async with Bot(server.token, base_url=server.base_url) as bot:
        sender = TelegramSender(bot, services)
        if file_id != "Makefile":
            with pytest.raises(Refused, match="not a Telegram file id"):
                await sender.send(row, None)
            assert [c for c in server.calls if c.method == "sendPhoto"] == []
        else:  # an id Telegram does not know: refused by Telegram, the file never opened
            with pytest.raises(Refused):
                await sender.send(row, None)
            [call] = [c for c in server.calls if c.method == "sendPhoto"]
            assert call.params.get("photo") == file_id
    assert not any(file_id in path for path in opened)
