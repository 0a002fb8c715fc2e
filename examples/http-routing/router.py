"""KEMI script of the http-routing example: the routing decision comes from an HTTP service.

INVITE: create the transaction, ask the service (the transaction is suspended, the worker
keeps serving), then relay what the rtjson document says; a failure route tries the next
route of a serial document on 408/503. Runs on siprouter and on Kamailio (app_python3).
"""

import json

import KSR

FAILOVER_CODES = (408, 500, 502, 503, 504)


def mod_init():
    return kamailio()


class kamailio:  # noqa: N801 - Kamailio's conventional name
    def child_init(self, rank):
        self.router = KSR.kx.get_def("ROUTER_URL") or "http://127.0.0.1:8080"
        return 0

    def ksr_request_route(self, msg):
        if KSR.is_OPTIONS():
            KSR.sl.sl_send_reply(200, "Keepalive")
            return 1
        if KSR.is_CANCEL() or KSR.is_ACK():
            if KSR.tm.t_check_trans() > 0:
                KSR.tm.t_relay()
            return 1
        if KSR.tm.t_check_trans() == 0:
            return 1  # retransmission, handled by tm
        if KSR.hdr.is_present("To") and KSR.pv.get("$tt") is not None:
            KSR.tm.t_relay()  # in-dialog: follow the R-URI
            return 1
        if not KSR.is_INVITE():
            KSR.sl.sl_send_reply(405, "Method Not Allowed")
            return 1
        self.ask_router()
        return 1

    def ask_router(self):
        KSR.tm.t_newtran()
        KSR.pv.sets("$avp(caller)", KSR.pv.get("$fu"))
        query = {"ruri": KSR.pv.get("$ru"), "from": KSR.pv.get("$fu"), "callid": KSR.pv.get("$ci")}
        KSR.pv.sets("$http_req(body)", json.dumps(query))
        KSR.pv.sets("$http_req(hdr)", "Content-Type: application/json")
        if KSR.http_async_client.query(self.router + "/route", "ksr_route_reply") < 0:
            KSR.tm.t_reply(500, "Routing Query Failed")

    def ksr_route_reply(self, msg, evname=None):
        if KSR.pv.get("$http_ok") != 1:
            KSR.tm.t_reply(503, "Routing Service Unavailable")
            return 1
        if KSR.pv.get("$http_rs") == 404:
            KSR.tm.t_reply(404, "Not Found")
            return 1
        if KSR.pv.get("$http_rs") != 200 or KSR.rtjson.init_routes(KSR.pv.get("$http_rb")) < 0:
            KSR.tm.t_reply(500, "Bad Routing Answer")
            return 1
        KSR.rtjson.push_routes()
        KSR.tm.t_on_branch("ksr_branch_route")
        KSR.tm.t_on_failure("ksr_failure_route")
        if KSR.tm.t_relay() < 0:
            KSR.tm.t_reply(500, "Relay Failed")
        return 1

    def ksr_branch_route(self, msg):
        KSR.rtjson.update_branch()
        return 1

    def ksr_failure_route(self, msg):
        if KSR.tm.t_is_canceled() > 0:
            return 1
        code = KSR.pv.get("$T_reply_code")
        if code in FAILOVER_CODES and KSR.rtjson.next_route() > 0:
            KSR.tm.t_on_branch("ksr_branch_route")
            KSR.tm.t_on_failure("ksr_failure_route")
            KSR.tm.t_relay()
        return 1
