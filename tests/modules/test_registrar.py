"""registrar + usrloc through the engine: a real script, REGISTERs over loopback UDP."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.store.kit import UA, contacts_of, start


@pytest.fixture
async def ua(tmp_path: Path):  # type: ignore[no-untyped-def]
    server = await start(tmp_path, 'modparam("registrar", "max_contacts", 3)\n')
    agent = await UA.open(server, "bob")
    yield agent
    agent.close()
    await server.stop()


async def test_register_contacts_q_order_and_lookup_branches(ua: UA) -> None:
    r = await ua.register("<sip:bob@10.0.0.1:5060>;q=0.5, <sip:bob@10.0.0.2>;expires=100",
                          "Expires: 300\r\n")  # fmt: skip
    assert (r.status, r.get("x-save-rc")) == (200, "1")
    assert contacts_of(r) == ["<sip:bob@10.0.0.1:5060>;q=0.5;expires=300",
                              "<sip:bob@10.0.0.2>;expires=100"]  # fmt: skip
    r = await ua.register('<sip:bob@10.0.0.3>;q=0.9;+sip.instance="<urn:uuid:1>";reg-id=1',
                          call_id="reg-2")  # fmt: skip
    assert r.get("x-save-rc") == "1"
    assert (
        contacts_of(r)[0]
        == '<sip:bob@10.0.0.3>;q=0.9;expires=3600;+sip.instance="<urn:uuid:1>";reg-id=1'
    )
    r = await ua.send("INVITE", "sip:bob@example.com", call_id="inv-1")
    rc, ruri, du, branches = (r.get("x-lookup") or "").split(" ", 3)
    assert (r.status, rc, ruri, du) == (200, "1", "sip:bob@10.0.0.3", "None")
    assert branches == "sip:bob@10.0.0.1:5060|0.5|None;sip:bob@10.0.0.2|None|None"


async def test_query_refresh_remove_and_star(ua: UA) -> None:
    await ua.register("<sip:bob@10.0.0.1>, <sip:bob@10.0.0.2>")
    r = await ua.register()
    assert (r.get("x-save-rc"), len(contacts_of(r))) == ("4", 2)
    r = await ua.register("<sip:bob@10.0.0.1>;expires=30")
    assert r.get("x-save-rc") == "2" and "<sip:bob@10.0.0.1>;expires=60" in contacts_of(r)
    r = await ua.register("<sip:bob@10.0.0.2>", "Expires: 0\r\n")
    assert r.get("x-save-rc") == "3" and contacts_of(r) == ["<sip:bob@10.0.0.1>;expires=60"]
    r = await ua.register("*")
    assert (r.status, r.get("p-registrar-error")) == (
        400,
        "* used in contact and expires is not zero",
    )
    r = await ua.register("*", "Expires: 0\r\nX-Flags: 0\r\n")  # save() replies itself
    assert (r.status, r.get("x-save-rc"), r.get("contact")) == (200, None, None)
    r = await ua.send("INVITE", "sip:bob@example.com", call_id="inv-2")
    assert (r.status, (r.get("x-lookup") or "").split()[0]) == (404, "-1")


async def test_cseq_rules_and_max_contacts(ua: UA) -> None:
    await ua.register("<sip:bob@10.0.0.1>", cseq=5)
    r = await ua.register("<sip:bob@10.0.0.1>", cseq=4)
    assert (r.status, r.get("p-registrar-error"), r.get("x-save-rc")) == (
        400,
        "Invalid CSeq number",
        "-1",
    )
    r = await ua.register("<sip:bob@10.0.0.1>", cseq=5)  # a retransmission: accepted, no change
    assert r.status == 200
    await ua.register("<sip:bob@10.0.0.2>, <sip:bob@10.0.0.3>", call_id="other")
    r = await ua.register("<sip:bob@10.0.0.4>", call_id="third")
    assert (r.status, r.get("x-save-rc"), len(contacts_of(r))) == (503, "-2", 3)
    assert r.get("p-registrar-error") == "Too many registered contacts"
    r = await ua.register("<sip:bob@10.0.0.9>", "X-Flags: 6\r\n", call_id="single")
    assert contacts_of(r) == ["<sip:bob@10.0.0.9>;expires=3600"]


async def test_contact_longer_than_contact_max_size_is_refused(ua: UA) -> None:
    """registrar's contact_max_size (512 by default): a longer Contact URI gets 400, as
    Kamailio's check_contacts() answers, and nothing is stored; 512 exactly is accepted."""
    fits = "sip:bob@10.0.0.1;x=" + "a" * (512 - len("sip:bob@10.0.0.1;x="))
    r = await ua.register(f"<{fits}>")
    assert (r.status, r.get("x-save-rc")) == (200, "1")
    r = await ua.register(f"<{fits}a>", call_id="long")
    assert (r.status, r.get("p-registrar-error"), r.get("x-save-rc")) == (
        400,
        "Contact/received too long",
        "-1",
    )
    r = await ua.register()
    assert contacts_of(r) == [f"<{fits}>;expires=3600"]


async def test_unregister_fetch_and_ulc(ua: UA) -> None:
    await ua.register("<sip:bob@10.0.0.1>;q=0.1, <sip:bob@10.0.0.2>;q=0.7")
    r = await ua.send("SUBSCRIBE", "sip:bob@example.com", call_id="s1")
    assert r.reason == "fetch 1 [2, 'bob', 'sip:bob@10.0.0.2', 700, 3600, 'sip:bob@10.0.0.1']"
    r = await ua.send("MESSAGE", "sip:bob@example.com", call_id="m1")
    assert r.reason == "unregister 1"
    r = await ua.send("MESSAGE", "sip:bob@example.com", call_id="m2")
    assert r.reason == "unregister -3"
    r = await ua.send("SUBSCRIBE", "sip:bob@example.com", call_id="s2")
    assert r.reason == "fetch -1 [None, None, None, None, None, None]"
