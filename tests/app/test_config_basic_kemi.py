"""The parser on a realistic configuration: Kamailio's kamailio-basic-kemi.cfg (kemi.md §2.1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.config import ConfigError, cli_defines, parse_config

from .cfg_kit import write
from .test_config import IMPL

# -- a realistic configuration ----------------------------------------------------------------
BASIC_KEMI = """
#!KAMAILIO
#
# Kamailio SIP Server - basic KEMI configuration (shape of kamailio-basic-kemi.cfg)
#
##!define WITH_MYSQL
##!define WITH_AUTH
##!define WITH_IPAUTH
##!define WITH_USRLOCDB
##!define WITH_NAT
#!define WITH_ANTIFLOOD_NOT_SUPPORTED
##!define WITH_ACCDB

####### Include Local Config If Exists #########
import_file "kamailio-local.cfg"

####### Defined Values #########
#!ifdef WITH_MYSQL
#!ifndef DBURL
#!define DBURL "mysql://kamailio:kamailiorw@localhost/kamailio"
#!endif
#!endif
#!ifdef WITH_MULTIDOMAIN
#!define MULTIDOMAIN 1
#!else
#!define MULTIDOMAIN 0
#!endif

#!define FLT_ACC 1
#!define FLT_ACCMISSED 2
#!define FLT_ACCFAILED 3
#!define FLT_NATS 5
#!define FLB_NATB 6
#!define FLB_NATSIPPING 7

#!ifdef WITH_CFGPYTHON3
#!define KEMIENGINE "python"
#!define KEMIMODULE "app_python3"
#!define KEMILOAD "/usr/local/etc/kamailio/kamailio-basic-kemi-python.py"
#!endif

####### Global Parameters #########
#!ifdef WITH_DEBUG
debug=4
log_stderror=yes
#!else
debug=2
log_stderror=no
#!endif

memdbg=5
memlog=5
#!ifdef WITH_CFGPYTHON3
log_prefix="PY3 {$rm}: "
#!endif
latency_cfg_log=2
latency_log=2
latency_limit_action=100000
latency_limit_db=200000
log_facility=LOG_LOCAL0
fork=yes
children=2

/* uncomment the next line to disable TCP (default on) */
# disable_tcp=yes
/* uncomment the next line to disable the auto discovery of local aliases
 * based on reverse DNS on IPs (default on) */
# auto_aliases=no
/* add local domain aliases */
# alias="sip.mydomain.com"
/* uncomment and configure the following line if you want Kamailio to
 * bind on a specific interface/port/proto (default bind on all available) */
# listen=udp:10.0.0.10:5060
port=5060

#!ifdef WITH_TLS
enable_tls=yes
#!endif

/* life time of TCP connection when there is no traffic */
tcp_connection_lifetime=3605

####### Modules Section ########
/* set paths to location of modules */
# mpath="/usr/local/lib/kamailio/modules/"

#!ifdef WITH_MYSQL
loadmodule "db_mysql.so"
#!endif

loadmodule "jsonrpcs.so"
loadmodule "kex.so"
loadmodule "corex.so"
loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "sanity.so"
loadmodule "ctl.so"
loadmodule "cfg_rpc.so"
loadmodule "acc.so"
loadmodule "kemix.so"

#!ifdef WITH_AUTH
loadmodule "auth.so"
loadmodule "auth_db.so"
#!endif

#!ifdef WITH_ANTIFLOOD
loadmodule "htable.so"
loadmodule "pike.so"
#!endif

loadmodule KEMIMODULE

# ----------------- setting module-specific parameters ---------------
# ----- jsonrpcs params -----
modparam("jsonrpcs", "pretty_format", 1)
/* set the path to RPC fifo control file */
# modparam("jsonrpcs", "fifo_name", "/run/kamailio/kamailio_rpc.fifo")

# ----- tm params -----
modparam("tm", "failure_reply_mode", 3)
modparam("tm", "fr_timer", 30000)
modparam("tm", "fr_inv_timer", 120000)

# ----- rr params -----
modparam("rr", "enable_full_lr", 1)
modparam("rr", "append_fromtag", 0)

# ----- registrar params -----
modparam("registrar", "method_filtering", 1)
# modparam("registrar", "append_branches", 0)
modparam("registrar", "max_expires", 3600)
modparam("registrar", "gruu_enabled", 0)

# ----- acc params -----
modparam("acc", "early_media", 0)
modparam("acc", "report_ack", 0)
modparam("acc", "report_cancels", 0)
modparam("acc", "detect_direction", 0)
modparam("acc", "log_flag", FLT_ACC)
modparam("acc", "log_missed_flag", FLT_ACCMISSED)
modparam("acc", "log_extra",
	"src_user=$fU;src_domain=$fd;src_ip=$si;"
	"dst_ouser=$tU;dst_user=$rU;dst_domain=$rd")
modparam("acc", "failed_transaction_flag", FLT_ACCFAILED)

# ----- usrloc params -----
modparam("usrloc", "preload", "location")
#!ifdef WITH_USRLOCDB
modparam("usrloc", "db_url", DBURL)
modparam("usrloc", "db_mode", 2)
modparam("usrloc", "use_domain", MULTIDOMAIN)
#!endif

#!ifdef WITH_NAT
modparam("nathelper|registrar", "received_avp", "$avp(RECEIVED)")
modparam("usrloc", "nat_bflag", FLB_NATB)
#!endif

####### Routing Logic ########
#!ifdef WITH_CFGPYTHON3
modparam(KEMIMODULE, "load", KEMILOAD)
cfgengine KEMIENGINE
#!else
cfgengine "native"
include_file "/usr/local/etc/kamailio/kamailio-basic-kemi-native.cfg"
#!endif
"""

BASIC_KEMI_MODULES = IMPL | {"tmx", "sanity", "acc", "auth", "auth_db", "jsonrpcs", "ctl"}


def test_basic_kemi_cfg(tmp_path: Path) -> None:
    """The basic KEMI config loads unchanged when started with -A WITH_CFGPYTHON3."""
    path = write(tmp_path, "kamailio-basic-kemi.cfg", BASIC_KEMI)
    write(tmp_path, "kamailio-local.cfg", '#!define WITH_LOCAL\nalias="local.example.com"\n')
    defines = cli_defines(["WITH_CFGPYTHON3"])
    c = parse_config(path, defines, implemented=BASIC_KEMI_MODULES)
    assert (c.debug, c.log_stderror, c.children, c.port) == (2, False, 2, 5060)
    assert c.log_prefix == "PY3 {$rm}: " and c.aliases == ("local.example.com",)
    assert c.cfgengine == "python" and c.engine_module == "app_python3"
    assert c.script == Path("/usr/local/etc/kamailio/kamailio-basic-kemi-python.py")
    names = [m.name for m in c.modules]
    assert names[:4] == ["jsonrpcs", "kex", "corex", "tm"] and names[-1] == "app_python3"
    acc = {m.param: m.value for m in c.modparams if m.module == "acc"}
    assert acc["log_flag"] == 1 and acc["failed_transaction_flag"] == 3
    assert acc["log_extra"].endswith("dst_ouser=$tU;dst_user=$rU;dst_domain=$rd")
    assert {s.name for s in c.ignored} >= {"memdbg", "latency_log", "fork", "log_facility"}
    assert "WITH_LOCAL" in c.defines


def test_basic_kemi_cfg_unsupported_parts(tmp_path: Path) -> None:
    """Without python, or with an unimplemented module, the errors point at the line."""
    path = write(tmp_path, "kamailio-basic-kemi.cfg", BASIC_KEMI)
    with pytest.raises(ConfigError, match="loadmodule"):
        parse_config(path, implemented=BASIC_KEMI_MODULES)  # KEMIMODULE undefined
    with pytest.raises(ConfigError, match='"htable" is a Kamailio module'):
        parse_config(
            path, {"WITH_CFGPYTHON3": "", "WITH_ANTIFLOOD": ""}, implemented=BASIC_KEMI_MODULES
        )
    with pytest.raises(ConfigError, match='" is a Kamailio module siprouter does not'):
        parse_config(path, {"WITH_CFGPYTHON3": ""})
