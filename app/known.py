"""Kamailio names the configuration accepts without giving them any meaning.

A Kamailio user's kamailio.cfg should start with no or minimal edits, so the parser knows:

* :data:`CORE_MODULES` -- modules whose job siprouter's core does anyway (pseudo-variables,
  logging, the KEMI engine itself). ``loadmodule`` of one of them is accepted silently, and
  so is any ``modparam`` of it.
* :data:`KAMAILIO_MODULES` -- every module Kamailio ships. ``loadmodule`` of one that is
  neither implemented (``modules.MODULES``) nor a core module is a start-up error saying that
  siprouter does not implement it yet; any other name is an unknown module.
* :data:`KAMAILIO_CORE_PARAMS` -- every core parameter of Kamailio (``src/core/cfg.lex``).
  Those the parser does not interpret (:data:`IGNORED_CORE_PARAMS`: memory and hash sizes,
  process and DNS tuning, ...) are accepted, kept in ``Config.ignored`` and logged once.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType


def _names(text: str) -> frozenset[str]:
    """The whitespace-separated names of ``text``."""
    return frozenset(text.split())


_ENGINE = "the KEMI engine is built into siprouter"
CORE_MODULES: Mapping[str, str] = MappingProxyType(
    {
        "app_python3": _ENGINE,
        "app_python": _ENGINE,
        "app_python3s": _ENGINE,
        "kemix": "KSR.kx is provided by the KEMI engine",
        "pv": "pseudo-variables (KSR.pv) are provided by the core",
        "xlog": "logging (KSR.xlog) is provided by the core",
        "kex": "core statistics and RPCs are built in",
        "corex": "core extensions are built in",
        "cfgutils": "provided by the core",
        "cfg_rpc": "runtime cfg variables are not used",
        "db_sqlite": "sqlite:// database URLs are served by the built-in store (app/store)",
    }
)
"""Accepted-and-ignored modules, with the reason shown in logs and docs."""

KAMAILIO_MODULES: frozenset[str] = _names(
    """
    acc acc_diameter acc_json acc_radius alias_db app_jsdt app_lua app_lua_sr app_mono
    app_perl app_python app_python3 app_python3s app_ruby app_ruby_proc app_sqlang async
    auth auth_arnacon auth_db auth_diameter auth_ephemeral auth_identity auth_radius
    auth_web3 auth_xkeys avp avpops benchmark blst call_control call_obj carrierroute cdp
    cdp_avp cfg_db cfg_rpc cfgt cfgutils cnxcc corex counters cplc crypto ctl db2_ldap
    db2_ops db_berkeley db_cassandra db_cluster db_flatstore db_mongodb db_mysql db_oracle
    db_perlvdb db_postgres db_redis db_sqlite db_text db_unixodbc debugger dialog dialplan
    dispatcher diversion dlgs dmq dmq_usrloc domain domainpolicy drouting enum evapi
    evrexec exec file_out gcrypt geoip geoip2 group gzcompress h350 htable
    http_async_client http_client imc ims_auth ims_charging ims_dialog ims_diameter_server
    ims_icscf ims_ipsec_pcscf ims_isc ims_ocs ims_qos ims_registrar_pcscf
    ims_registrar_scscf ims_usrloc_pcscf ims_usrloc_scscf influxdbc ipops jansson
    janssonrpcc json jsonrpcc jsonrpcs jwt kafka kazoo keepalive kemix kex lcr ldap
    log_custom log_systemd lost lrkproxy lwsc mangler matrix maxfwd mediaproxy memcached
    misc_radius mohqueue mqtt mqueue msilo msrp mtree nat_traversal nathelper ndb_cassandra
    ndb_mongodb ndb_redis nosip nsq outbound p_usrloc path pdb pdt peering permissions
    phonenum pike pipelimit prefix_route presence presence_conference presence_dfks
    presence_dialoginfo presence_mwi presence_profile presence_reginfo presence_xml pua
    pua_bla pua_dialoginfo pua_json pua_reginfo pua_rpc pua_usrloc pua_xmpp pv pv_headers
    qos rabbitmq ratelimit regex registrar rls rr rtimer rtjson rtpengine rtpproxy ruxc
    sanity sca sctp sdpops seas secfilter secsipid secsipid_proc sipcapture sipdump
    sipjson siprepo sipt siptrace siputils sl slack sms smsops snmpstats speeddial sqlops
    ss7ops sst statistics statsc statsd stirshaken stun sworker systemdops tcpops textops
    textopsx timer tls tls_wolfssl tlsa tm tmrec tmx topoh topos topos_htable topos_redis
    tsilo uac uac_redirect uid_auth_db uid_avp_db uid_domain uid_gflags uid_uri_db uri_db
    userblacklist userblocklist usrloc utils uuid websocket xcap_client xcap_server xhttp
    xhttp_pi xhttp_prom xhttp_rpc xlog xmlops xmlrpc xmpp xprint
    """
)
"""Module names of Kamailio 5.x/6.x (``src/modules``)."""

KAMAILIO_CORE_PARAMS: frozenset[str] = _names(
    """
    debug fork fork_delay modinit_delay log_stderror log_facility log_name log_color
    log_prefix log_prefix_mode log_engine_type log_engine_data xavp_via_params
    xavp_via_fields listen alias domain auto_aliases auto_domains dns rev_dns dns_rev_via
    dns_try_ipv6 dns_try_naptr dns_srv_lb dns_srv_loadbalancing dns_udp_pref
    dns_udp_preference dns_tcp_pref dns_tcp_preference dns_tls_pref dns_tls_preference
    dns_sctp_pref dns_sctp_preference dns_retr_time dns_slow_query_ms dns_retr_no
    dns_servers_no dns_use_search_list dns_search_full_match dns_naptr_ignore_rfc
    dns_cache_init use_dns_cache dns_use_cache use_dns_failover dns_use_failover
    dns_cache_flags dns_cache_negative_ttl dns_cache_min_ttl dns_cache_max_ttl
    dns_cache_mem dns_cache_gc_interval dns_cache_del_nonexp dns_cache_delete_nonexpired
    dns_cache_rec_pref auto_bind_ipv6 bind_ipv6_link_local ipv6_hex_style
    dst_blacklist_init use_dst_blacklist dst_blacklist_mem dst_blacklist_expire
    dst_blacklist_ttl dst_blacklist_gc_interval dst_blacklist_udp_imask
    dst_blacklist_tcp_imask dst_blacklist_tls_imask dst_blacklist_sctp_imask
    dst_blocklist_init use_dst_blocklist dst_blocklist_mem dst_blocklist_expire
    dst_blocklist_ttl dst_blocklist_gc_interval dst_blocklist_udp_imask
    dst_blocklist_tcp_imask dst_blocklist_tls_imask dst_blocklist_sctp_imask
    ip_free_bind ipfreebind ip_nonlocal_bind port statistics stats_name_separator
    maxbuffer sql_buffer_size children workers socket_workers async_workers async_usleep
    async_nonblock async_workers_group check_via phone2tel memlog mem_log memdbg mem_dbg
    mem_summary mem_safety mem_join mem_status_mode corelog core_log
    sip_parser_log_oneline sip_parser_log sip_parser_mode sip_warning server_signature
    server_header user_agent_header reply_to_via user uid group gid chroot workdir wdir
    rundir run_dir mhomed disable_tcp tcp_children tcp_accept_aliases tcp_accept_unique
    tcp_send_timeout tcp_connect_timeout tcp_connection_lifetime tcp_connection_match
    tcp_poll_method tcp_max_connections tls_max_connections tcp_no_connect
    tcp_source_ipv4 tcp_source_ipv6 tcp_fd_cache tcp_buf_write tcp_async tcp_conn_wq_max
    tcp_wq_max tcp_rd_buf_size tcp_wq_blk_size tcp_defer_accept tcp_delayed_ack
    tcp_syncnt tcp_linger2 tcp_keepalive tcp_keepidle tcp_keepintvl tcp_keepcnt
    tcp_crlf_ping tcp_accept_no_cl tcp_accept_hep3 tcp_accept_haproxy tcp_close_rst
    tcp_clone_rcvbuf tcp_reuse_port tcp_wait_data tcp_script_mode disable_tls tls_disable
    enable_tls tls_enable tlslog tls_log tls_port_no tls_method tls_verify
    tls_require_certificate tls_certificate tls_private_key tls_ca_list
    tls_handshake_timeout tls_send_timeout disable_sctp enable_sctp sctp_children
    advertised_address advertised_port disable_core_dump open_files_limit shm shm_mem
    shm_mem_size shm_force_alloc mlock_pages real_time rt_prio rt_policy rt_timer1_prio
    rt_fast_timer_prio rt_ftimer_prio rt_timer1_policy rt_ftimer_policy rt_timer2_prio
    rt_stimer_prio rt_timer2_policy rt_stimer_policy mcast_loopback mcast_ttl mcast tos
    pmtu_discovery exit_timeout ser_kill_timeout max_while_loops pv_buffer_size
    pv_buffer_slots pv_cache_limit pv_cache_action http_reply_hack http_reply_parse
    version_table verbose_startup server_id route_locks_size wait_worker1_mode
    wait_worker1_time wait_worker1_usleep max_recursive_level max_branches
    latency_cfg_log latency_log latency_limit_db latency_limit_action latency_limit_cfg
    rpc_exec_delta uri_host_extra_chars hdr_name_extra_chars msg_time onsend_route_reply
    udp_mtu udp_mtu_try_proto udp4_raw udp4_raw_mtu udp4_raw_ttl loadpath mpath
    kemi.request_route_callback kemi.onsend_route_callback kemi.reply_route_callback
    kemi.event_route_callback kemi.received_route_callback kemi.received_route_mode
    kemi.pre_routing_callback
    """
)
"""Core parameters of Kamailio (``name = value`` in the global part of kamailio.cfg)."""

INTERPRETED_CORE_PARAMS: frozenset[str] = _names(
    """
    listen alias port children debug log_stderror log_prefix server_header
    user_agent_header kemi.request_route_callback kemi.onsend_route_callback
    kemi.reply_route_callback kemi.event_route_callback kemi.received_route_callback
    kemi.pre_routing_callback
    """
)
"""Core parameters that siprouter reads (see ``app.config``)."""

IGNORED_CORE_PARAMS: frozenset[str] = KAMAILIO_CORE_PARAMS - INTERPRETED_CORE_PARAMS
"""Kamailio core parameters accepted and ignored (memory, processes, DNS, TCP tuning, ...)."""


def is_core_module(name: str) -> bool:
    """True if ``loadmodule`` of ``name`` is accepted and ignored."""
    return name in CORE_MODULES


def is_kamailio_module(name: str) -> bool:
    """True if Kamailio ships a module called ``name``."""
    return name in KAMAILIO_MODULES


ROUTE_BLOCKS: frozenset[str] = _names(
    """
    route request_route reply_route onreply_route failure_route branch_route
    branch_failure_route onsend_route event_route
    """
)
"""Native routing blocks (rejected: routing is done by the KEMI script)."""

ENGINE_MODULES: tuple[str, ...] = ("app_python3", "app_python", "app_python3s")
"""Modules that register the "python" cfgengine, in order of preference."""

KEMI_DEFAULTS: Mapping[str, str] = MappingProxyType(
    {
        "request_route_callback": "ksr_request_route",
        "onsend_route_callback": "ksr_onsend_route",
        "reply_route_callback": "ksr_reply_route",
        "event_route_callback": "",
        "received_route_callback": "",
        "pre_routing_callback": "",
    }
)
"""Kamailio's defaults of the ``kemi.*_callback`` core parameters ("" = not called)."""
