"""auth + auth_db through the engine: digest REGISTERs over loopback UDP (MD5, SHA-256, qop,
wrong password, unknown user, replayed and expired nonces, $au/$ar/$adu/$aa)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.store import Subscriber
from modules import _auth_nonce as nonces
from modules import auth_db
from tests.store.kit import UA, start

CONTACT = "<sip:alice@10.0.0.5>"
AUTH = "X-Auth: 1\r\n"


async def _ua(tmp_path: Path, params: str = "") -> tuple[object, UA]:
    server = await start(tmp_path, 'modparam("auth_db", "calculate_ha1", 1)\n'
                                   'modparam("auth_db", "password_column", "password")\n' + params)  # fmt: skip
    auth_db.store().put_subscriber("subscriber", Subscriber("alice", "example.com", "secret"))
    return server, await UA.open(server, "alice")


@pytest.fixture
async def ua(tmp_path: Path):  # type: ignore[no-untyped-def]
    server, agent = await _ua(tmp_path, 'modparam("auth", "one_time_nonce", 1)\n')
    yield agent
    agent.close()
    await server.stop()  # type: ignore[attr-defined]


async def test_challenge_then_ok_then_replay_refused(ua: UA) -> None:
    r = await ua.register(CONTACT, AUTH)
    assert (r.status, r.get("x-auth-rc")) == (401, "-5")
    assert (r.get("www-authenticate") or "").startswith('Digest realm="example.com", nonce="')
    creds = ua.authorization(r, "secret")
    ok = await ua.register(CONTACT, AUTH + creds)
    assert (ok.status, ok.get("x-auth-rc"), ok.get("x-save-rc")) == (200, "1", "1")
    again = await ua.register(CONTACT, AUTH + creds)
    assert (again.status, again.get("x-auth-rc")) == (401, "-6")


async def test_wrong_password_unknown_user_forged_nonce(ua: UA) -> None:
    r = await ua.register(CONTACT, AUTH)
    bad = await ua.register(CONTACT, AUTH + ua.authorization(r, "wrong"))
    assert (bad.status, bad.get("x-auth-rc")) == (401, "-2")
    who = await ua.register(CONTACT, AUTH + ua.authorization(r, "secret", user="carol"))
    assert who.get("x-auth-rc") == "-3"
    forged = ua.authorization(r, "secret").replace('nonce="', 'nonce="AAAA')
    assert (await ua.register(CONTACT, AUTH + forged)).get("x-auth-rc") == "-1"


async def test_expired_nonce_is_stale(ua: UA) -> None:
    r = await ua.register(CONTACT, AUTH)
    old = nonces.make(nonces.secret_bytes(""), "example.com", 10, now=1000.0)
    value = (r.get("www-authenticate") or "").split('nonce="')[1].split('"')[0]
    r.replace("www-authenticate", (r.get("www-authenticate") or "").replace(value, old))
    stale = await ua.register(CONTACT, AUTH + ua.authorization(r, "secret"))
    assert stale.get("x-auth-rc") == "-4" and "stale=true" in (stale.get("www-authenticate") or "")


async def test_auth_user_mismatch(ua: UA) -> None:
    auth_db.store().put_subscriber("subscriber", Subscriber("carol", "example.com", "pw"))
    r = await ua.register(CONTACT, AUTH)
    mismatch = await ua.register(CONTACT, AUTH + ua.authorization(r, "pw", user="carol"))
    assert mismatch.get("x-auth-rc") == "-8"


async def test_sha256_with_qop_and_nonce_count(tmp_path: Path) -> None:
    server, ua = await _ua(tmp_path, 'modparam("auth", "algorithm", "SHA-256")\n'
                                     'modparam("auth", "qop", "auth")\n'
                                     'modparam("auth", "nonce_count", 1)\n')  # fmt: skip
    try:
        r = await ua.register(CONTACT, AUTH)
        challenge = r.get("www-authenticate") or ""
        assert 'algorithm=SHA-256, qop="auth"' in challenge
        first = await ua.register(CONTACT, AUTH + ua.authorization(r, "secret", nc=1))
        assert first.get("x-auth-rc") == "1"
        second = await ua.register(CONTACT, AUTH + ua.authorization(r, "secret", nc=2))
        assert second.get("x-auth-rc") == "1"
        replay = await ua.register(CONTACT, AUTH + ua.authorization(r, "secret", nc=2))
        assert replay.get("x-auth-rc") == "-6"
    finally:
        ua.close()
        await server.stop()


PV_SCRIPT = """
import KSR

class H:
    def child_init(self, rank):
        return 0

    def ksr_request_route(self, msg):
        rc = KSR.auth.pv_auth_check("", "secret", 0, 1)
        if rc < 0:
            KSR.auth.auth_challenge("", 1)
            return 1
        vals = [KSR.pv.get(p) for p in ("$au", "$ar", "$adu", "$aa")]
        KSR.auth.consume_credentials()
        KSR.sl.sl_send_reply(200, "ok %d %s %d" % (rc, vals, KSR.auth.has_credentials("example.com")))
        return 1

def mod_init():
    return H()
"""


async def test_pv_auth_check_qop_and_pvs(tmp_path: Path) -> None:
    server = await start(tmp_path, script=PV_SCRIPT)
    ua = await UA.open(server, "alice")
    try:
        r = await ua.register(CONTACT)
        assert r.status == 401 and 'qop="auth"' in (r.get("www-authenticate") or "")
        ok = await ua.register(CONTACT, ua.authorization(r, "secret"))
        assert ok.reason == "ok 1 ['alice', 'example.com', 'sip:example.com', 'MD5'] 1"
    finally:
        ua.close()
        await server.stop()
