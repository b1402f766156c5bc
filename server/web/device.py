"""Web senders are devices: the signed `barrage_device` cookie.

Phones behind one venue Wi-Fi share an address, so the web's rate limit counts
devices. The cookie is `<device id>.<signature>`: 16 random bytes and an
HMAC-SHA256 of them, both URL-safe base64, checked in constant time. The key is
made once, at random, and kept in the database's `setting` table, so every
process on that database signs alike and a restart keeps every phone's id.
A cookie is no secret (it only names a device); signing it stops a script from
naming as many devices as it likes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from http.cookies import SimpleCookie

from aiohttp import hdrs, web

COOKIE = "barrage_device"
SETTING_KEY = "web.device_cookie_key"
MAX_AGE = 365 * 24 * 3600  # a year: a returning guest stays one device
_ID_BYTES = 16
_ID_CHARS = 22      # base64 of 16 bytes, unpadded
_SIG_CHARS = 43     # base64 of 32 bytes, unpadded
_DOMAIN = b"barrage_device v1:"  # so the key signs nothing else by accident
# A response that should hand out a fresh cookie carries its value here until it is sent.
_FRESH = web.RequestKey("barrage_fresh_device", str)


def new_key() -> str:
    return secrets.token_hex(32)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class DeviceCookies:
    def __init__(self, key: str, always_secure: bool = False) -> None:
        self._key = bytes.fromhex(key) if _is_hex(key) else key.encode()
        self._always_secure = always_secure

    def device_of(self, request: web.Request) -> str | None:
        """The device id of a validly signed cookie; None for none or a forged one."""
        value = request.cookies.get(COOKIE, "")
        device_id, _, signature = value.partition(".")
        if len(device_id) != _ID_CHARS or len(signature) != _SIG_CHARS or not value.isascii():
            return None
        if not hmac.compare_digest(self._sign(device_id), signature.encode()):
            return None
        return device_id

    def identify(self, request: web.Request) -> tuple[str, bool]:
        """(device id, known). An unknown sender gets a fresh id; its response sets the cookie."""
        if (device_id := self.device_of(request)) is not None:
            return device_id, True
        device_id = _b64(secrets.token_bytes(_ID_BYTES))
        request[_FRESH] = device_id
        return device_id, False

    def give(self, request: web.Request, response: web.StreamResponse, device_id: str) -> None:
        # A header, not response.set_cookie(): on_response_prepare runs after aiohttp
        # has written the cookies into the headers.
        jar: SimpleCookie = SimpleCookie()
        jar[COOKIE] = f"{device_id}.{self._sign(device_id).decode()}"
        morsel = jar[COOKIE]
        morsel.update({"max-age": str(MAX_AGE), "path": "/", "httponly": True, "samesite": "Lax"})
        if self._always_secure or request.secure:
            morsel["secure"] = True
        response.headers.add(hdrs.SET_COOKIE, morsel.OutputString())

    def give_fresh(self, request: web.Request, response: web.StreamResponse) -> None:
        """on_response_prepare: a sender met without a valid cookie leaves with one,
        whatever the answer (a 429 included)."""
        if (device_id := request.get(_FRESH)) is not None:
            self.give(request, response, device_id)

    def _sign(self, device_id: str) -> bytes:
        digest = hmac.new(self._key, _DOMAIN + device_id.encode(), hashlib.sha256).digest()
        return _b64(digest).encode()


def _is_hex(text: str) -> bool:
    try:
        bytes.fromhex(text)
    except ValueError:
        return False
    return True
