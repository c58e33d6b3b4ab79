#!/usr/bin/python3
"""MIT SPNEGO (1.3.6.1.5.5.2) peer for gosspi's Negotiate interop tests.

Run with Debian's /usr/bin/python3 (python3-gssapi). NTLM comes from
gss-ntlmssp; Kerberos from MIT krb5 (KRB5_CONFIG, KRB5CCNAME, KRB5_KTNAME
are taken from the environment).

Modes:
  gen      run an MIT-to-MIT SPNEGO handshake in one process and print every
           token as a JSON line {"leg": n, "from": "client"|"server", "tok": hex}.
  client   initiator; talks JSON lines on stdin/stdout.
  server   acceptor; talks JSON lines on stdin/stdout.

Handshake: each side writes {"tok": hex, "done": bool} after every step and
reads {"tok": hex} when it needs the peer's next token. After the handshake
the Go side sends commands, one JSON object per line, and gets one answer:
  {"op": "wrap", "data": hex, "conf": bool}   -> {"tok": hex, "conf": bool}
  {"op": "unwrap", "tok": hex}                -> {"data": hex, "conf": bool}
  {"op": "mic", "data": hex}                  -> {"mic": hex}
  {"op": "verify", "data": hex, "mic": hex}   -> {"ok": true}
  {"op": "info"}                              -> {"mech": dotted, "peer": name}
  {"op": "quit"}
Failures answer {"error": "..."}; a failed handshake step writes
{"error": "...", "tok": hex-of-error-token-or-empty} and exits 3.
"""
import argparse
import json
import sys

import gssapi
import gssapi.raw as gr

SPNEGO = gssapi.OID.from_int_seq("1.3.6.1.5.5.2")
KRB5 = gssapi.OID.from_int_seq("1.2.840.113554.1.2.2")
NTLM = gssapi.OID.from_int_seq("1.3.6.1.4.1.311.2.2.10")
MECHS = {"krb5": KRB5, "ntlm": NTLM}


def send(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def recv():
    line = sys.stdin.readline()
    if not line:
        sys.exit(0)
    return json.loads(line)


def client_ctx(args):
    creds = None
    if args.user:
        name = gssapi.Name(args.user, gssapi.NameType.user)
        if args.password is not None:
            creds = gr.acquire_cred_with_password(
                name, args.password.encode(), usage="initiate",
                mechs=[SPNEGO]).creds
        else:
            creds = gssapi.Credentials(name=name, usage="initiate", mechs=[SPNEGO])
    else:
        creds = gssapi.Credentials(usage="initiate", mechs=[SPNEGO])
    gr.set_neg_mechs(creds, [MECHS[m] for m in args.mechs])
    target = gssapi.Name(args.target, gssapi.NameType.hostbased_service)
    flags = (gssapi.RequirementFlag.mutual_authentication
             | gssapi.RequirementFlag.integrity
             | gssapi.RequirementFlag.confidentiality
             | gssapi.RequirementFlag.replay_detection
             | gssapi.RequirementFlag.out_of_sequence_detection)
    return gssapi.SecurityContext(name=target, creds=creds, mech=SPNEGO,
                                  flags=flags, usage="initiate")


def server_ctx(args):
    creds = gssapi.Credentials(usage="accept", mechs=[SPNEGO])
    gr.set_neg_mechs(creds, [MECHS[m] for m in args.mechs])
    return gssapi.SecurityContext(creds=creds, usage="accept")


def step(ctx, tok):
    """One handshake step: (output token, complete). python-gssapi may
    return an error token and raise only when the context is next used."""
    out = b""
    try:
        out = ctx.step(tok) or b""
        return out, bool(ctx.complete)
    except gr.GSSError as e:
        send({"error": str(e), "tok": out.hex()})
        sys.exit(3)


def handshake(ctx, initiator):
    tok = None
    if not initiator:
        tok = bytes.fromhex(recv()["tok"])
    while True:
        out, complete = step(ctx, tok)
        send({"tok": out.hex(), "done": complete})
        if complete:
            return
        tok = bytes.fromhex(recv()["tok"])


def serve(ctx):
    while True:
        cmd = recv()
        op = cmd.get("op")
        try:
            if op == "quit":
                return
            if op == "wrap":
                res = ctx.wrap(bytes.fromhex(cmd["data"]), cmd.get("conf", True))
                send({"tok": res.message.hex(), "conf": bool(res.encrypted)})
            elif op == "unwrap":
                res = ctx.unwrap(bytes.fromhex(cmd["tok"]))
                send({"data": res.message.hex(), "conf": bool(res.encrypted)})
            elif op == "mic":
                send({"mic": ctx.get_signature(bytes.fromhex(cmd["data"])).hex()})
            elif op == "verify":
                ctx.verify_signature(bytes.fromhex(cmd["data"]), bytes.fromhex(cmd["mic"]))
                send({"ok": True})
            elif op == "info":
                peer = ctx.initiator_name if not ctx.locally_initiated else ctx.target_name
                send({"mech": ctx.mech.dotted_form if ctx.mech else "", "peer": str(peer)})
            else:
                send({"error": "unknown op " + str(op)})
        except gr.GSSError as e:
            send({"error": str(e)})


def gen(args):
    c = client_ctx(args)
    s = server_ctx(args)
    tok, leg, who = None, 0, "client"
    while True:
        ctx = c if who == "client" else s
        out = ctx.step(tok)
        if out:
            send({"leg": leg, "from": who, "tok": out.hex()})
            leg += 1
        if c.complete and s.complete:
            break
        tok = out
        who = "server" if who == "client" else "client"
    m = c.get_signature(b"mic-from-client")
    s.verify_signature(b"mic-from-client", m)
    w = c.wrap(b"wrap-from-client", True).message
    assert s.unwrap(w).message == b"wrap-from-client"
    send({"mic": m.hex(), "wrap": w.hex(), "mech": c.mech.dotted_form})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["gen", "client", "server"])
    ap.add_argument("--target", default="HTTP@localhost")
    ap.add_argument("--user")
    ap.add_argument("--password")
    ap.add_argument("--mechs", default="krb5,ntlm")
    args = ap.parse_args()
    args.mechs = [m for m in args.mechs.split(",") if m]
    if args.mode == "gen":
        gen(args)
        return
    if args.mode == "client":
        ctx = client_ctx(args)
        handshake(ctx, True)
    else:
        ctx = server_ctx(args)
        handshake(ctx, False)
    serve(ctx)


if __name__ == "__main__":
    main()
