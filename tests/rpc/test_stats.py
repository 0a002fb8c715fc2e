"""Statistics registry: selectors, reset semantics, Prometheus rendering."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from rpc import Commands, Stats, register_stats_commands


def registry() -> Stats:
    stats = Stats()
    stats.counter("core", "rcv_requests").inc(4)
    stats.counter("core", "fwd_requests").inc()
    stats.counter("sl", "sent_replies", doc='sl "replies"\nsent').inc(2)
    gauge = stats.gauge("tmx", "active_transactions")
    gauge.set(7)
    gauge.dec()
    stats.gauge("shmem", "free_size", func=lambda: 1.5)
    return stats


def test_selectors() -> None:
    stats = registry()
    names = lambda pats: [s.full_name for s in stats.select(pats)]  # noqa: E731
    assert names(["core:"]) == ["core:rcv_requests", "core:fwd_requests"]
    assert names(["active_transactions", "sl:sent_replies"]) == [
        "tmx:active_transactions",
        "sl:sent_replies",
    ]
    assert len(names(["all", "core:"])) == 5 and names(["nope"]) == []
    assert stats.counter("core", "rcv_requests").value == 4  # same object returned
    assert stats.get("tmx:active_transactions") is not None and stats.groups()[0] == "core"


async def test_reset_keeps_gauges_and_clear_returns_values() -> None:
    stats, commands = registry(), Commands()
    register_stats_commands(commands, stats)
    await commands.call("stats.reset_statistics", ["all"])
    got = await commands.call("stats.get_statistics", [])
    assert got == [
        "core:rcv_requests = 0",
        "core:fwd_requests = 0",
        "sl:sent_replies = 0",
        "tmx:active_transactions = 6",
        "shmem:free_size = 1.5",
    ]
    stats.counter("core", "rcv_requests").inc()
    assert await commands.call("stats.clear_statistics", ["rcv_requests"]) == [
        "core:rcv_requests = 1"
    ]
    assert await commands.call("stats.get_statistics", ["rcv_requests"]) == [
        "core:rcv_requests = 0"
    ]


def test_prometheus_text() -> None:
    text = registry().prometheus()
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    assert fams["kamailio_sl_sent_replies"].documentation == 'sl "replies"\nsent'
    assert fams["kamailio_shmem_free_size"].samples[0].value == 1.5
    assert fams["kamailio_core_fwd_requests"].type == "counter"
    assert "# TYPE kamailio_tmx_active_transactions gauge" in text
