"""xlog through the engine on loopback: PV interpolation ($rm, $si, $var, $hdr, $(hdr[N]),
unknown PVs as <null>), levels and the prefix modparam."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from modules import xlog

from ._basic_kit import probe, serve


async def test_xlog_formats_pvs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    server = await serve(tmp_path, [xlog.module], {"xlog": {"prefix": "P: "}})
    caplog.set_level(logging.DEBUG, logger="siprouter.script")
    try:
        ops = " ;; ".join([
            "KSR.pv.sets('$var(x)', 'vx')",
            "KSR.xlog.xinfo('$rm from $si:$sp x=$var(x) h=$hdr(X-A) h2=$(hdr(X-A)[1]) n=$nosuch u=$ua $ cost\\n')",
            "KSR.xlog.xlog('L_WARN', 'warn $ci')", "KSR.xlog.xerr('err')", "KSR.xlog.xdbg('dbg')",
            "KSR.xlog.xnotice('n')", "KSR.xlog.xalert('a')", "KSR.xlog.xcrit('c')",
            "KSR.xlog.xlogl('bogus', 'b')", "KSR.xlog.xwarn('$(rm)')",
        ])  # fmt: skip
        res = await probe(server, ops, extra="X-A: one\r\nX-A: two\r\n")
        assert res == [True, 1, 1, 1, 1, 1, 1, 1, 1, 1]
    finally:
        await server.stop()
    lines = {(r.levelno, r.getMessage()) for r in caplog.records if r.name == "siprouter.script"}
    first = next(m for lvl, m in lines if lvl == logging.INFO and "from" in m)
    assert first.startswith("P: OPTIONS from 127.0.0.1:")
    assert first.endswith(" x=vx h=one h2=two n=<null> u=<null> $ cost")
    assert (logging.WARNING, "P: warn k1") in lines and (logging.ERROR, "P: err") in lines
    assert (logging.DEBUG, "P: dbg") in lines and (logging.CRITICAL, "P: a") in lines
    assert (logging.ERROR, "P: b") in lines and (logging.WARNING, "P: OPTIONS") in lines


def test_level_names() -> None:
    assert xlog.level_of("L_DBG") == logging.DEBUG and xlog.level_of("info") == logging.INFO
    assert xlog.level_of("L_BUG") == logging.CRITICAL and xlog.level_of("?") == logging.ERROR
