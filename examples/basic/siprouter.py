# siprouter example KEMI script (app_python3 style): answer OPTIONS to the proxy,
# forward everything else statelessly to the NEXT_HOP of kamailio.cfg.
import sys

import KSR as KSR


def mod_init():
    KSR.info("===== basic example: mod_init\n")
    return kamailio()


class kamailio:
    def __init__(self):
        self.next_hop = KSR.kx.get_def("NEXT_HOP") or "sip:127.0.0.1:5070"

    def child_init(self, rank):
        KSR.dbg("===== child_init(%d)\n" % rank)
        return 0

    def ksr_request_route(self, msg):
        if KSR.is_OPTIONS() and KSR.is_myself_ruri() and KSR.pv.is_null("$rU"):
            KSR.sl.sl_send_reply(200, "Keepalive")
            sys.exit()
        KSR.setdsturi(self.next_hop)
        if KSR.forward() < 0:
            KSR.sl.sl_send_reply(500, "Cannot Forward")
        return 1

    def ksr_reply_route(self, msg):
        KSR.dbg("reply %s from %s\n" % (KSR.pv.get("$rs"), KSR.pv.get("$si")))
        return 1
