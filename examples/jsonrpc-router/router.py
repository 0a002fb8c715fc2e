"""KEMI script of the jsonrpc-router example: a JSON-RPC server routes INVITEs.

INVITE: ``KSR.jsonrpcc.request("route", params, "ksr_rpc_reply")`` suspends the transaction
and asks the server (a siprouter extension -- Kamailio's jsonrpcc is cfg-only); the answer
comes back in ``$jsonrpcc(ok|result|error)`` and ``ksr_rpc_reply`` relays the rtjson
document, with a failure route that fails over to the next route on 408/5xx.
"""

import json

import KSR

FAILOVER_CODES = (408, 500, 502, 503, 504)


def mod_init():
    return kamailio()


class kamailio:  # noqa: N801 - Kamailio's conventional name
    def child_init(self, rank):
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
            return 1
        if KSR.pv.get("$tt") is not None:
            KSR.tm.t_relay()
            return 1
        if not KSR.is_INVITE():
            KSR.sl.sl_send_reply(405, "Method Not Allowed")
            return 1
        params = {"ruri": KSR.pv.get("$ru"), "from": KSR.pv.get("$fu"), "callid": KSR.pv.get("$ci")}
        if KSR.jsonrpcc.request("route", json.dumps(params), "ksr_rpc_reply") < 0:
            KSR.sl.sl_send_reply(500, "Routing Query Failed")
        return 1

    def ksr_rpc_reply(self, msg):
        if KSR.pv.get("$jsonrpcc(ok)") != 1:
            error = KSR.pv.get("$jsonrpcc(error)")  # "timeout", "failure" or an error object
            if error in ("timeout", "failure"):
                KSR.tm.t_reply(503, "Routing Service Unavailable")
            else:
                KSR.tm.t_reply(404, "Not Found")
            return 1
        if KSR.rtjson.init_routes(KSR.pv.get("$jsonrpcc(result)")) < 0:
            KSR.tm.t_reply(500, "Bad Routing Answer")
            return 1
        KSR.pv.seti("$shv(routed)", (KSR.pv.get("$shv(routed)") or 0) + 1)
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
        if KSR.pv.get("$T_reply_code") in FAILOVER_CODES and KSR.rtjson.next_route() > 0:
            KSR.tm.t_on_branch("ksr_branch_route")
            KSR.tm.t_on_failure("ksr_failure_route")
            KSR.tm.t_relay()
        return 1
