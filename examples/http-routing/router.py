"""KEMI script of the http-routing example: the routing decision comes from an HTTP service.

INVITE: create the transaction, record-route, ask the service (the transaction is
suspended, the worker keeps serving), then relay what the rtjson document says; a failure
route tries the next route of a serial document on 408/480/486/5xx. In-dialog requests
(ACK, BYE, re-INVITE) follow the Route set. Runs on siprouter and on Kamailio
(app_python3).

Defines read here (``-A NAME=value`` or ``#!define``): ``ROUTER_URL``, ``ROUTER_FAIL_CODE``
(default 503: the service is down or did not answer in time).
"""

import json

import KSR

FAILOVER_CODES = (408, 480, 486, 500, 502, 503, 504)


def mod_init():
    return kamailio()


class kamailio:  # noqa: N801 - Kamailio's conventional name
    def child_init(self, rank):
        self.route_url = (KSR.kx.get_def("ROUTER_URL") or "http://127.0.0.1:8080") + "/route"
        self.fail_code = int(KSR.kx.get_defn("ROUTER_FAIL_CODE") or 503)
        return 0

    def ksr_request_route(self, msg):
        if KSR.is_OPTIONS():
            KSR.sl.sl_send_reply(200, "Keepalive")
            return 1
        if KSR.is_CANCEL():
            if KSR.tm.t_check_trans() > 0:
                KSR.tm.t_relay()
            return 1
        if KSR.pv.get("$tt") is not None:
            self.in_dialog()
            return 1
        if KSR.is_ACK():
            KSR.tm.t_check_trans()  # the ACK of a negative reply: absorbed by tm
            return 1
        if KSR.tm.t_check_trans() == 0:
            return 1  # retransmission, handled by tm
        if not KSR.is_INVITE():
            KSR.sl.sl_send_reply(405, "Method Not Allowed")
            return 1
        KSR.rr.record_route()
        self.ask_router()
        return 1

    def in_dialog(self):
        # $du from the Route set, else the R-URI (the callee's Contact); as in Kamailio's
        # default cfg, only an ACK without a Route set of ours asks tm whether it is the
        # ACK of a negative reply (absorbed by tm)
        if KSR.rr.loose_route() < 0 and KSR.is_ACK() and KSR.tm.t_check_trans() == 0:
            return
        KSR.tm.t_relay()

    def ask_router(self):
        KSR.tm.t_newtran()
        query = {"ruri": KSR.pv.get("$ru"), "from": KSR.pv.get("$fu"), "callid": KSR.pv.get("$ci")}
        KSR.pv.sets("$http_req(body)", json.dumps(query))
        KSR.pv.sets("$http_req(hdr)", "Content-Type: application/json")
        if KSR.http_async_client.query(self.route_url, "ksr_route_reply") < 0:
            KSR.tm.t_reply(500, "Routing Query Failed")

    def ksr_route_reply(self, msg, evname=None):
        if KSR.pv.get("$http_ok") != 1:
            KSR.warn(f"routing service: {KSR.pv.get('$http_err')} (Call-ID {KSR.pv.get('$ci')})\n")
            KSR.tm.t_reply(self.fail_code, "Routing Service Unavailable")
            return 1
        status = KSR.pv.get("$http_rs")
        if status == 404:
            KSR.tm.t_reply(404, "Not Found")
            return 1
        if status != 200 or KSR.rtjson.init_routes(KSR.pv.get("$http_rb")) < 0:
            KSR.err(f"bad routing answer (HTTP {status}, Call-ID {KSR.pv.get('$ci')})\n")
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
