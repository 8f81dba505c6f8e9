"""The WeChat Official Account callback's signatures and safe-mode (安全模式) encryption.

- URL verification and every callback: `signature` = SHA1 of the sorted token, timestamp and
  nonce, joined; compared in constant time. It does not cover the body: the timestamp must be
  fresh, and the channel refuses a (timestamp, nonce) seen before with another body.
- Safe mode: the message travels as `<Encrypt>`, signed by `msg_signature` = SHA1 of the sorted
  token, timestamp, nonce and the encrypted text. The EncodingAESKey (43 characters) is
  base64 of the 32-byte AES key without its `=`; the IV is the key's first 16 bytes. The plain
  text is 16 random bytes, the message length as 4 bytes in network order, the message, and
  the AppID, padded PKCS#7-style to a multiple of 32 bytes, encrypted with AES-256-CBC and
  base64-encoded. Decryption checks the AppID, so a message for another account is refused.

Only the standard library and `cryptography`; no SDK.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 32  # WeChat pads to 32 bytes, not to AES's 16
AES_KEY_LENGTH = 43


class WeChatCryptoError(ValueError):
    """A signature does not match, or an encrypted message is not ours or not well-formed."""


def signature(token: str, timestamp: str, nonce: str, *more: str) -> str:
    """SHA1 hex digest of the sorted parts joined (token, timestamp, nonce [, encrypted])."""
    return hashlib.sha1("".join(sorted((token, timestamp, nonce, *more))).encode("utf-8")).hexdigest()


def check_signature(token: str, given: str | None, timestamp: str | None, nonce: str | None) -> bool:
    """True when `given` is the callback signature of this token, timestamp and nonce."""
    if not (token and given and timestamp is not None and nonce is not None):
        return False
    return hmac.compare_digest(signature(token, timestamp, nonce).encode(), given.strip().lower().encode())


def fresh(timestamp: str, now: float, window: float) -> bool:
    """True when `timestamp` (seconds since 1970, ASCII digits as signed) is within `window` seconds of `now`."""
    return timestamp.isascii() and timestamp.isdigit() and abs(int(timestamp) - now) <= window


def decode_aes_key(encoding_aes_key: str) -> bytes:
    """The 32-byte AES key of a 43-character EncodingAESKey; WeChatCryptoError when malformed."""
    if len(encoding_aes_key) != AES_KEY_LENGTH:
        raise WeChatCryptoError(f"an EncodingAESKey has {AES_KEY_LENGTH} characters, this one {len(encoding_aes_key)}")
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except (binascii.Error, ValueError):
        raise WeChatCryptoError("an EncodingAESKey uses only letters and digits (base64)") from None
    if len(key) != 32:
        raise WeChatCryptoError("the EncodingAESKey does not decode to 32 bytes")
    return key


def cdata(text: str) -> str:
    """`text` as one XML CDATA section (a "]]>" inside is split across two sections)."""
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


class MessageCrypto:
    """Signing, encryption and decryption for one Official Account."""

    def __init__(self, token: str, encoding_aes_key: str, app_id: str) -> None:
        self.token = token
        self.app_id = app_id
        self.key = decode_aes_key(encoding_aes_key)
        self.iv = self.key[:16]

    # -- signatures ---------------------------------------------------------------------

    def msg_signature(self, timestamp: str, nonce: str, encrypted: str) -> str:
        return signature(self.token, timestamp, nonce, encrypted)

    def check_msg_signature(self, given: str | None, timestamp: str | None, nonce: str | None, encrypted: str) -> bool:
        if not (given and timestamp is not None and nonce is not None):
            return False
        expected = self.msg_signature(timestamp, nonce, encrypted)
        return hmac.compare_digest(expected.encode(), given.strip().lower().encode())

    # -- the AES layer ------------------------------------------------------------------

    def encrypt(self, message: str | bytes, random_prefix: bytes | None = None) -> str:
        """Base64 of AES-256-CBC(16 random bytes + length + message + AppID, padded to 32)."""
        body = message.encode("utf-8") if isinstance(message, str) else message
        prefix = os.urandom(16) if random_prefix is None else random_prefix
        if len(prefix) != 16:
            raise ValueError("the random prefix has 16 bytes")
        plain = prefix + struct.pack(">I", len(body)) + body + self.app_id.encode("utf-8")
        pad = BLOCK - len(plain) % BLOCK
        plain += bytes([pad]) * pad
        encryptor = Cipher(algorithms.AES(self.key), modes.CBC(self.iv)).encryptor()
        return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode("ascii")

    def decrypt(self, encrypted: str) -> bytes:
        """The message inside `encrypted`; WeChatCryptoError when it is malformed or for another AppID."""
        try:
            data = base64.b64decode(encrypted.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise WeChatCryptoError("the encrypted message is not base64") from None
        if not data or len(data) % 16:
            raise WeChatCryptoError("the encrypted message is not a whole number of AES blocks")
        decryptor = Cipher(algorithms.AES(self.key), modes.CBC(self.iv)).decryptor()
        plain = decryptor.update(data) + decryptor.finalize()
        pad = plain[-1]
        if not 1 <= pad <= BLOCK or pad > len(plain) or plain[-pad:] != bytes([pad]) * pad:
            raise WeChatCryptoError("the encrypted message has bad padding (wrong key?)")
        plain = plain[:-pad]
        if len(plain) < 20:
            raise WeChatCryptoError("the encrypted message is too short")
        (length,) = struct.unpack(">I", plain[16:20])
        if 20 + length > len(plain):
            raise WeChatCryptoError("the encrypted message's length field is out of range")
        message, app_id = plain[20 : 20 + length], plain[20 + length :]
        if not hmac.compare_digest(app_id, self.app_id.encode("utf-8")):
            raise WeChatCryptoError("the encrypted message is for another AppID")
        return message

    # -- whole callback bodies ----------------------------------------------------------

    def encrypt_reply(self, reply_xml: str, nonce: str, timestamp: str, random_prefix: bytes | None = None) -> str:
        """The safe-mode envelope of a passive reply: Encrypt, MsgSignature, TimeStamp, Nonce."""
        encrypted = self.encrypt(reply_xml, random_prefix)
        return (
            "<xml>\n"
            f"<Encrypt><![CDATA[{encrypted}]]></Encrypt>\n"
            f"<MsgSignature><![CDATA[{self.msg_signature(timestamp, nonce, encrypted)}]]></MsgSignature>\n"
            f"<TimeStamp>{int(timestamp)}</TimeStamp>\n"
            f"<Nonce>{cdata(nonce)}</Nonce>\n"
            "</xml>"
        )
