"""Samba's own NETLOGON client (python3-samba): NetrLogonSamLogonEx over a
sealed schannel for one set of NTLM responses, printed as JSON; with a
count, that many logons on one connection and their time.

usage: samba_samlogon.py SMBCONF MACHINE$ PASSWORD DOMAIN REALM USER USERDOMAIN CHALLENGE NT LM [COUNT]
"""
import sys, json, time
from samba import param
from samba.credentials import Credentials
from samba.dcerpc import netlogon, misc
smbconf, machine, pw, domain, realm, user, udom, chal, nt, lm = sys.argv[1:11]
lp = param.LoadParm(); lp.load(smbconf)
c = Credentials(); c.guess(lp)
c.set_username(machine); c.set_password(pw); c.set_domain(domain); c.set_realm(realm)
c.set_workstation(machine.rstrip('$')); c.set_secure_channel_type(misc.SEC_CHAN_WKSTA)
conn = netlogon.netlogon("ncacn_ip_tcp:127.0.0.1[schannel,seal]", lp, c)
info = netlogon.netr_NetworkInfo()
info.identity_info.domain_name.string = udom
info.identity_info.account_name.string = user
info.identity_info.workstation.string = "CLIENT1"
info.identity_info.parameter_control = 0x820
info.challenge = list(bytes.fromhex(chal))
n = netlogon.netr_ChallengeResponse(); b = bytes.fromhex(nt); n.length = len(b); n.data = list(b); info.nt = n
l = netlogon.netr_ChallengeResponse(); b = bytes.fromhex(lm); l.length = len(b); l.data = list(b); info.lm = l
count = int(sys.argv[11]) if len(sys.argv) > 11 else 1
t0 = time.perf_counter_ns()
for _ in range(count):
    v, auth, flags = conn.netr_LogonSamLogonEx(None, machine.rstrip('$'), 6, info, 6, 0)
elapsed = time.perf_counter_ns() - t0
base = v.base
dom = str(base.domain_sid)
print(json.dumps({"user": base.account_name.string, "domain": base.logon_domain.string,
  "sid": dom + "-" + str(base.rid), "groups": [dom + "-" + str(g.rid) for g in base.groups.rids],
  "extra": [str(s.sid) for s in (v.sids or [])], "key": bytes(base.key.key).hex(), "count": count, "elapsed_ns": elapsed}))
