#!/usr/bin/python3
"""A Samba client authenticating to a gosspi acceptor with Negotiate.

Samba's own GENSEC (python3-samba: the code smbclient, rpcclient and the
DC's LDAP client run) starts GSS-SPNEGO with Kerberos for HTTP@HOST with a
password, and either:

  http URL    sends the SPNEGO token to gosspi's HTTP server as
              "Authorization: Negotiate ..." (RFC 4559), feeds the
              server's final token back to GENSEC (mutual authentication)
              and prints one JSON line: the status, whether GENSEC
              finished, and the body (the identity the server saw);
  pipe        exchanges base64 tokens with the Go test on stdin/stdout,
              then wraps a message for the server (sealed) and unwraps
              the server's, printing "complete", the wrapped token, and
              the unwrapped text.

Usage: samba_negotiate.py MODE [URL] USER PASSWORD DOMAIN REALM HOST SMBCONF
"""
import base64
import http.client
import json
import sys
import urllib.parse

from samba import credentials, gensec
from samba.param import LoadParm


def client(user, password, domain, realm, host, smbconf):
    lp = LoadParm()
    lp.load(smbconf)
    creds = credentials.Credentials()
    creds.guess(lp)
    creds.set_username(user)
    creds.set_password(password)
    creds.set_domain(domain)
    creds.set_realm(realm)
    creds.set_kerberos_state(credentials.MUST_USE_KERBEROS)
    g = gensec.Security.start_client({"lp_ctx": lp, "target_hostname": host})
    g.set_credentials(creds)
    g.set_target_service("HTTP")
    g.set_target_hostname(host)
    g.want_feature(gensec.FEATURE_SIGN)
    g.want_feature(gensec.FEATURE_SEAL)
    g.start_mech_by_sasl_name("GSS-SPNEGO")
    return g


def http_mode(url, g):
    u = urllib.parse.urlsplit(url)
    finished, token = g.update(b"")
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    legs = 0
    while True:
        legs += 1
        conn.request("GET", u.path, headers={"Authorization": "Negotiate " + base64.b64encode(token).decode()})
        resp = conn.getresponse()
        body = resp.read().decode()
        reply = b""
        for h in resp.headers.get_all("WWW-Authenticate") or []:
            if h.startswith("Negotiate "):
                reply = base64.b64decode(h[len("Negotiate "):])
        if reply:
            finished, token = g.update(reply)
        if resp.status != 401 or finished or legs > 4:
            break
    print(json.dumps({"status": resp.status, "finished": bool(finished), "legs": legs,
                      "mutual_token": len(reply), "body": body}))


def pipe_mode(g):
    finished, token = g.update(b"")
    while True:
        print(base64.b64encode(token).decode(), flush=True)
        if finished:
            break
        reply = base64.b64decode(sys.stdin.readline().strip())
        finished, token = g.update(reply)
        if finished and not token:
            break
    print("complete", flush=True)
    print(base64.b64encode(g.wrap(b"hello from Samba")).decode(), flush=True)
    back = base64.b64decode(sys.stdin.readline().strip())
    print(g.unwrap(back).decode(), flush=True)


def main():
    mode = sys.argv[1]
    if mode == "http":
        url, rest = sys.argv[2], sys.argv[3:]
        http_mode(url, client(*rest))
    elif mode == "pipe":
        pipe_mode(client(*sys.argv[2:]))
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
