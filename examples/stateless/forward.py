"""KEMI script of examples/stateless: answer keep-alive OPTIONS, forward the rest statelessly."""

import sys

import KSR as KSR


def mod_init():
    return kamailio()


class kamailio:
    def __init__(self):
        self.next_hop = KSR.kx.get_def("NEXT_HOP") or "sip:127.0.0.1:5070"

    def child_init(self, rank):
        return 0

    def ksr_request_route(self, msg):
        if KSR.is_OPTIONS() and KSR.is_myself_ruri() and KSR.pv.is_null("$rU"):
            KSR.sl.sl_send_reply(200, "Keepalive")
            sys.exit()
        KSR.setdsturi(self.next_hop)
        if KSR.forward() < 0:
            KSR.sl.sl_send_reply(500, "Cannot Forward")
        return 1
