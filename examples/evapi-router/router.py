"""KEMI script of the evapi-router example: a subscriber of the event socket routes INVITEs.

INVITE: create the transaction, relay it as a JSON event to the subscribers and suspend it
(``KSR.evapi.async_relay``); the subscriber answers ``{"tindex", "tlabel", "route"}`` where
``route`` is an rtjson document (or null: 404); the event callback keeps the answer in
``$var`` and resumes the transaction (``KSR.tmx.t_continue``), which relays it. Runs on
siprouter and on Kamailio (app_python3, evapi, tmx, rtjson).
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
            return 1  # retransmission, handled by tm
        if KSR.pv.get("$tt") is not None:
            KSR.tm.t_relay()  # in-dialog: follow the R-URI
            return 1
        if not KSR.is_INVITE():
            KSR.sl.sl_send_reply(405, "Method Not Allowed")
            return 1
        self.ask_subscriber()
        return 1

    def ask_subscriber(self):
        KSR.tm.t_newtran()
        KSR.tm.t_on_failure("ksr_failure_route")  # also runs if the subscriber never answers
        event = {
            "event": "invite",
            "tindex": KSR.pv.get("$T(id_index)"),
            "tlabel": KSR.pv.get("$T(id_label)"),
            "ruri": KSR.pv.get("$ru"),
            "from": KSR.pv.get("$fu"),
            "callid": KSR.pv.get("$ci"),
        }
        if KSR.evapi.async_relay(json.dumps(event)) < 0:
            KSR.tm.t_reply(503, "No Router")  # nobody subscribed: at once

    def ksr_evapi_event(self, msg, evname):
        if evname != "evapi:message-received":
            addr, port = KSR.pv.get("$evapi(srcaddr)"), KSR.pv.get("$evapi(srcport)")
            KSR.info(f"evapi: {evname} from {addr}:{port}\n")
            return 1
        try:
            answer = json.loads(KSR.pv.get("$evapi(msg)"))
            tindex, tlabel = int(answer["tindex"]), int(answer["tlabel"])
        except (ValueError, KeyError, TypeError):
            KSR.err(f"evapi: bad answer {KSR.pv.get('$evapi(msg)')}\n")
            return 1
        KSR.pv.sets("$var(route)", json.dumps(answer.get("route")))
        KSR.tmx.t_continue(tindex, tlabel, "ksr_evapi_resume")
        return 1

    def ksr_evapi_resume(self, msg):
        document = KSR.pv.get("$var(route)")
        KSR.pv.seti("$avp(routed)", 1)
        if document == "null":
            KSR.tm.t_reply(404, "Not Found")
            return 1
        if KSR.rtjson.init_routes(document) < 0:
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
        if KSR.pv.get("$avp(routed)") is None:  # the subscriber did not answer in time
            KSR.tm.t_reply(503, "Router Timeout")
            return 1
        if KSR.pv.get("$T_reply_code") in FAILOVER_CODES and KSR.rtjson.next_route() > 0:
            KSR.tm.t_on_branch("ksr_branch_route")
            KSR.tm.t_on_failure("ksr_failure_route")
            KSR.tm.t_relay()
        return 1
