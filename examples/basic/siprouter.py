"""siprouter's basic example: the routing of a registrar and stateful proxy (KEMI, Python).

The steps are those of Kamailio's basic KEMI configuration: initial checks, NAT detection,
CANCEL and retransmission handling, in-dialog requests, digest authentication, outbound
requests, REGISTER, location lookup with serial/parallel forking, and the branch, reply and
failure routes. kamailio.cfg's defines switch the features (WITH_AUTH, WITH_NAT, ...).

Every ``route_*`` method answers one question: was the request dealt with (True: stop
here), or does routing go on (False)? The script only uses KSR functions that Kamailio 5.6
has, so Kamailio runs it unchanged through app_python3.
"""

import KSR as KSR

# flags (kamailio.cfg defines the branch flags with the same numbers for its modparams)
FLT_NATS = 5  # the request came from behind a NAT
FLB_NATB = 6  # branch: the contact is behind a NAT
FLB_NATSIPPING = 7  # branch: keep the NAT binding open with OPTIONS

# User-Agents of scanners and friendly-scanner floods: answered and forgotten
SCANNERS = ("friendly", "scanner", "sipcli", "sipvicious", "VaxSIPUserAgent", "pplsip")


def mod_init():
    return kamailio()


def _define(name):
    """The value of a #!define without quotes, or "" when it is not defined."""
    value = KSR.kx.get_def(name)
    return str(value).strip('"') if value is not None else ""


class kamailio:
    def __init__(self):
        self.auth = False
        self.nat = False
        self.voicemail = ""

    def child_init(self, rank):
        # read the defines once per worker (not at mod_init: no message exists yet)
        self.auth = KSR.kx.ifdef("WITH_AUTH")
        self.nat = KSR.kx.ifdef("WITH_NAT")
        self.voicemail = _define("VOICEMAIL")
        return 0

    # -- the request route ----------------------------------------------------------------
    def ksr_request_route(self, msg):
        if self.route_reqinit():
            return 1
        self.route_natdetect()

        if KSR.is_CANCEL():
            # a CANCEL of a transaction we hold goes where its INVITE went
            if KSR.tm.t_check_trans() > 0:
                self.route_relay()
            return 1

        if not KSR.is_ACK():
            # a retransmission is absorbed by its transaction
            if KSR.tmx.t_precheck_trans() > 0:
                KSR.tm.t_check_trans()
                return 1
            if KSR.tm.t_check_trans() == 0:
                return 1

        if self.route_withindlg():
            return 1
        if self.route_auth():
            return 1

        # initial requests: drop any preloaded Route, stay in the path of dialogs
        KSR.hdr.remove("Route")
        if KSR.is_method_in("IS"):
            KSR.rr.record_route()

        if self.route_sipout():
            return 1
        if KSR.is_REGISTER():
            self.route_registrar()
            return 1
        if KSR.corex.has_ruri_user() < 0:
            KSR.sl.sl_send_reply(484, "Address Incomplete")
            return 1
        self.route_location()
        return 1

    # -- steps of the request route -------------------------------------------------------
    def route_reqinit(self):
        """Sanity of the request; OPTIONS keep-alives to the proxy answered here."""
        ua = KSR.pv.gete("$ua")
        if any(word in ua for word in SCANNERS):
            KSR.sl.sl_send_reply(200, "Processed")
            return True
        if KSR.maxfwd.process_maxfwd(10) < 0:
            KSR.sl.sl_send_reply(483, "Too Many Hops")
            return True
        if KSR.is_OPTIONS() and KSR.is_myself_ruri() and KSR.corex.has_ruri_user() < 0:
            KSR.sl.sl_send_reply(200, "Keepalive")
            return True
        if KSR.sanity.sanity_check(17895, 7) < 0:
            # sanity has answered already
            KSR.err(f"malformed request from {KSR.pv.get('$si')}:{KSR.pv.get('$sp')}\n")
            return True
        return False

    def route_natdetect(self):
        """Reply to the source port; mark requests whose sender is behind a NAT."""
        if not self.nat:
            return
        KSR.force_rport()
        if KSR.nathelper.nat_uac_test(19) > 0:
            if KSR.is_REGISTER():
                KSR.nathelper.fix_nated_register()
            elif KSR.siputils.is_first_hop() > 0:
                KSR.nathelper.set_contact_alias()
            KSR.setflag(FLT_NATS)

    def route_withindlg(self):
        """Requests inside a dialog (To tag) follow their Route set."""
        if KSR.siputils.has_totag() < 0:
            return False
        if KSR.rr.loose_route() > 0:
            if self.nat and not KSR.isdsturiset():
                KSR.nathelper.handle_ruri_alias()
            if KSR.is_ACK():
                self.route_natmanage()
            elif KSR.is_NOTIFY():
                # stay in the path of the subscription's later NOTIFYs
                KSR.rr.record_route()
            self.route_relay()
            return True
        if KSR.is_ACK():
            # no Route: the ACK of a negative final reply goes with its transaction,
            # any other is dropped
            if KSR.tm.t_check_trans() > 0:
                self.route_relay()
            return True
        KSR.sl.sl_send_reply(404, "Not here")
        return True

    def route_auth(self):
        """REGISTERs and requests from local users prove who they are; no open relay."""
        if not self.auth:
            if not KSR.is_myself_ruri():
                KSR.sl.sl_send_reply(403, "Not relaying")
                return True
            return False
        from_local = KSR.is_myself_furi()
        if KSR.is_REGISTER() or from_local:
            realm = KSR.pv.get("$fd")
            if KSR.auth_db.auth_check(realm, "subscriber", 1) < 0:
                # 401 for a REGISTER, 407 otherwise; qop=auth so that nc is counted
                KSR.auth.auth_challenge(realm, 1)
                return True
            if not KSR.is_method_in("RP"):
                # the proxy's credentials are not for the next hop
                KSR.auth.consume_credentials()
        if not from_local and not KSR.is_myself_ruri():
            KSR.sl.sl_send_reply(403, "Not relaying")
            return True
        return False

    def route_sipout(self):
        """A request for another domain is relayed as it is."""
        if KSR.is_myself_ruri():
            return False
        KSR.hdr.append("P-Hint: outbound\r\n")
        self.route_relay()
        return True

    def route_registrar(self):
        """Save the contacts of a REGISTER (the registrar answers)."""
        if KSR.isflagset(FLT_NATS):
            KSR.setbflag(FLB_NATB)
            KSR.setbflag(FLB_NATSIPPING)
        if KSR.registrar.save("location", 0) < 0:
            KSR.sl.sl_reply_error()

    def route_location(self):
        """Send the request to the registered contacts of its R-URI user."""
        rc = KSR.registrar.lookup("location")
        if rc < 0:
            KSR.tm.t_newtran()
            if rc == -2:
                KSR.sl.send_reply(405, "Method Not Allowed")
            else:
                KSR.sl.send_reply(404, "Not Found")
            return
        if KSR.is_INVITE():
            # contacts with the highest q first; the next q group in the failure route
            KSR.tm.t_load_contacts()
            KSR.tm.t_next_contacts()
        self.route_relay()

    def route_relay(self):
        """Stateful relay, with the branch, reply and failure routes armed."""
        if KSR.is_method_in("IBSU") and KSR.tm.t_is_set("branch_route") < 0:
            KSR.tm.t_on_branch("ksr_branch_manage")
        if KSR.is_method_in("ISU") and KSR.tm.t_is_set("onreply_route") < 0:
            KSR.tm.t_on_reply("ksr_onreply_manage")
        if KSR.is_INVITE() and KSR.tm.t_is_set("failure_route") < 0:
            KSR.tm.t_on_failure("ksr_failure_manage")
        if KSR.tm.t_relay() < 0:
            KSR.sl.sl_reply_error()

    def route_natmanage(self):
        """Signalling of NATed parties: mark their dialogs, alias their contacts. (No media
        relay: rtpproxy/rtpengine are not part of this example.)"""
        if not self.nat:
            return
        request = KSR.siputils.is_request() > 0
        if request and KSR.siputils.has_totag() > 0 and KSR.rr.check_route_param("nat=yes") > 0:
            KSR.setbflag(FLB_NATB)
        if not (KSR.isflagset(FLT_NATS) or KSR.isbflagset(FLB_NATB)):
            return
        if request and KSR.siputils.has_totag() < 0 and KSR.tmx.t_is_branch_route() > 0:
            # an initial request leaving on a branch: mark the dialog as NATed
            KSR.rr.add_rr_param(";nat=yes")
        if KSR.siputils.is_reply() > 0 and KSR.isbflagset(FLB_NATB):
            KSR.nathelper.set_contact_alias()

    # -- branch, reply and failure routes -------------------------------------------------
    def ksr_branch_manage(self, msg):
        KSR.dbg(f"new branch [{KSR.pv.get('$T_branch_idx')}] to {KSR.pv.get('$ru')}\n")
        self.route_natmanage()
        return 1

    def ksr_onreply_manage(self, msg):
        code = KSR.pv.get("$rs")
        if 100 < code < 299:
            self.route_natmanage()
        return 1

    def ksr_failure_manage(self, msg):
        self.route_natmanage()
        if KSR.tm.t_is_canceled() > 0:
            return 1
        # serial forking: the contacts of the next q group
        if KSR.tm.t_next_contacts() > 0:
            KSR.tm.t_on_failure("ksr_failure_manage")
            self.route_relay()
            return 1
        # busy or no answer: the voicemail server when there is one, else the caller
        # gets the 486 or 408
        if self.voicemail and KSR.tm.t_check_status("486|408") > 0:
            # no failure route armed: whatever voicemail answers goes to the caller
            KSR.setdsturi("sip:" + self.voicemail)
            if KSR.tm.t_relay() < 0:
                KSR.tm.t_reply(500, "Voicemail Unreachable")
        return 1

    # -- every reply received -------------------------------------------------------------
    def ksr_reply_route(self, msg):
        if KSR.sanity.sanity_check(17604, 6) < 0:
            KSR.set_drop()
        return 1
