#!/usr/bin/python3
"""An NTLM HTTP client of another implementation, for the NETLOGON
pass-through tests: impacket's NTLMSSP (impacket.ntlm) or gss-ntlmssp
through python3-gssapi. It runs the handshake on one connection, then
prints {"status": ..., "body": ...} as JSON.

usage: ntlm_http_client.py impacket|gssapi HOST PORT PATH DOMAIN USER PASSWORD
"""
import base64
import http.client
import json
import sys

kind, host, port, path, domain, user, password = sys.argv[1:8]


def header(resp):
    for v in resp.getheader("WWW-Authenticate", "").split(","):
        v = v.strip()
        if v.startswith("NTLM "):
            return base64.b64decode(v[5:])
    return None


conn = http.client.HTTPConnection(host, int(port), timeout=30)


def get(token):
    conn.request("GET", path, headers={"Authorization": "NTLM " + base64.b64encode(token).decode()})
    r = conn.getresponse()
    body = r.read()
    return r, body


if kind == "impacket":
    from impacket import ntlm
    t1 = ntlm.getNTLMSSPType1("", domain)
    r, _ = get(t1.getData())
    chal = header(r)
    t3, _ = ntlm.getNTLMSSPType3(t1, chal, user, password, domain)
    r, body = get(t3.getData())
elif kind == "gssapi":
    import gssapi
    import gssapi.raw
    ntlmssp = gssapi.OID.from_int_seq("1.3.6.1.4.1.311.2.2.10")
    name = gssapi.Name(domain + "\\" + user, gssapi.NameType.user)
    creds = gssapi.raw.acquire_cred_with_password(name, password.encode(), usage="initiate", mechs=[ntlmssp]).creds
    target = gssapi.Name("HTTP@" + host, gssapi.NameType.hostbased_service)
    ctx = gssapi.SecurityContext(name=target, creds=creds, mech=ntlmssp, usage="initiate")
    r, _ = get(ctx.step(None))
    r, body = get(ctx.step(header(r)))
else:
    sys.exit("unknown client " + kind)
print(json.dumps({"status": r.status, "body": body.decode("utf-8", "replace")}))
