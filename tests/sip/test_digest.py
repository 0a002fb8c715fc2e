"""sip.digest: parsing of authentication headers and the digest response (RFC 2617, RFC 7616)."""

from __future__ import annotations

import hashlib

import pytest

from sip import RemoteProtocolError
from sip.digest import HASHES, AuthHeader, digest_response, parse_auth, render_auth

RFC7616 = {  # RFC 7616 §3.9.1: the same request answered with MD5 and with SHA-256
    "username": "Mufasa", "realm": "http-auth@example.org", "password": "Circle of Life",
    "method": "GET", "uri": "/dir/index.html", "qop": "auth", "nc": "00000001",
    "nonce": "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
    "cnonce": "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
}  # fmt: skip


def test_parse_credentials_quoted_and_bare() -> None:
    value = ('Digest username="bob", realm="example.com",nonce="a/b+c==" , uri="sip:x",'
             'response="0123abcd", algorithm=MD5,qop=auth, nc=00000001, cnonce=""')  # fmt: skip
    cred = parse_auth(value)
    assert cred.scheme == "Digest" and cred.is_digest and cred.raw == value
    assert cred.params == {
        "username": "bob", "realm": "example.com", "nonce": "a/b+c==", "uri": "sip:x",
        "response": "0123abcd", "algorithm": "MD5", "qop": "auth", "nc": "00000001",
        "cnonce": "",
    }  # fmt: skip


def test_parse_escapes_commas_and_case() -> None:
    cred = parse_auth(r'digest Realm="a \"b\", c\\d", NONCE=x,')
    assert cred.params == {"realm": 'a "b", c\\d', "nonce": "x"}
    assert cred.get("Realm") == 'a "b", c\\d' and cred.algorithm == "MD5"


def test_parse_other_schemes_and_bare_scheme() -> None:
    assert parse_auth("Basic").params == {}
    assert parse_auth("NTLM  a=b").params == {"a": "b"}


@pytest.mark.parametrize(
    "value",
    [
        'Digest realm="open',
        "Digest realm=a b",
        "Digest =x",
        'Digest a="x"y',
        "Digest a=b,,c=d",
        '"Digest"',
        'Digest a="x" b="y"',
    ],  # fmt: skip
)
def test_parse_rejects_malformed(value: str) -> None:
    with pytest.raises(RemoteProtocolError):
        parse_auth(value)


def test_render_round_trip() -> None:
    challenge = AuthHeader("Digest", {"realm": "r", "nonce": "n", "qop": "auth", "stale": "true"})
    assert render_auth(challenge) == 'Digest realm="r", nonce="n", qop="auth", stale=true'
    assert parse_auth(render_auth(challenge)).params == challenge.params


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ],  # fmt: skip
)
def test_response_rfc7616_vectors(algorithm: str, expected: str) -> None:
    assert digest_response(algorithm=algorithm, **RFC7616) == expected
    ha1 = HASHES[algorithm](b"Mufasa:http-auth@example.org:Circle of Life")
    assert digest_response(algorithm=algorithm, **{**RFC7616, "password": "x"}, ha1=ha1) == expected


def test_response_rfc2069_sess_and_auth_int() -> None:
    def md5(text: str) -> str:
        return hashlib.md5(text.encode()).hexdigest()  # noqa: S324 - the protocol's hash

    ha1, ha2 = md5("u:r:p"), md5("REGISTER:sip:r")
    args = {"username": "u", "realm": "r", "password": "p", "method": "REGISTER", "uri": "sip:r",
            "nonce": "n"}  # fmt: skip
    assert digest_response(**args) == md5(f"{ha1}:n:{ha2}")
    sess = md5(f"{ha1}:n:c")
    assert digest_response(**args, algorithm="md5-sess", qop="auth", cnonce="c") == md5(
        f"{sess}:n:00000001:c:auth:{ha2}"
    )
    ha2_int = md5(f"REGISTER:sip:r:{md5('body')}")
    assert digest_response(**args, qop="auth-int", nc="2", cnonce="c", body=b"body") == md5(
        f"{ha1}:n:2:c:auth-int:{ha2_int}"
    )
    with pytest.raises(RemoteProtocolError):
        digest_response(**args, algorithm="SHA-1")


@pytest.mark.parametrize("name", ["MD5", "SHA-256", "SHA-512-256"])
def test_hashes_match_hashlib(name: str) -> None:
    ref = {"MD5": "md5", "SHA-256": "sha256", "SHA-512-256": "sha512_256"}[name]
    assert HASHES[name](b"abc") == hashlib.new(ref, b"abc").hexdigest()
