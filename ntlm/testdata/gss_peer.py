#!/usr/bin/python3
"""gss-ntlmssp peer for the gosspi NTLM interop tests.

Run with /usr/bin/python3 (Debian's python3-gssapi). Usage:

    gss_peer.py initiate DOMAIN\\user password target [cbhex]
    gss_peer.py accept [cbhex]

The acceptor reads its users from $NTLM_USER_FILE (gss-ntlmssp). Lines of
JSON are exchanged on stdin/stdout:

    {"token": b64}            handshake tokens, both ways
    {"done": true, "session_key": hex, "peer": name}   after the handshake
    {"wrap": b64} / {"mic": b64, "msg": b64}           from this peer
    then it reads {"wrap": b64} and {"mic": b64, "msg": b64} and answers
    {"unwrapped": b64} and {"verified": true}
"""
import base64
import json
import sys

import gssapi
import gssapi.raw as raw

NTLMSSP = gssapi.OID.from_int_seq("1.3.6.1.4.1.311.2.2.10")
SESSION_KEY = gssapi.OID.from_int_seq("1.2.840.113554.1.2.2.5.5")


def send(**kw):
    sys.stdout.write(json.dumps(kw) + "\n")
    sys.stdout.flush()


def recv():
    line = sys.stdin.readline()
    if not line:
        sys.exit("peer closed")
    return json.loads(line)


def b64(b):
    return base64.b64encode(b).decode()


def unb64(s):
    return base64.b64decode(s)


def bindings(argv, i):
    if len(argv) > i and argv[i]:
        return raw.ChannelBindings(application_data=bytes.fromhex(argv[i]))
    return None


def main():
    mode = sys.argv[1]
    flags = (gssapi.RequirementFlag.integrity | gssapi.RequirementFlag.confidentiality
             | gssapi.RequirementFlag.replay_detection | gssapi.RequirementFlag.out_of_sequence_detection)
    if mode == "initiate":
        user, password, target = sys.argv[2], sys.argv[3], sys.argv[4]
        cb = bindings(sys.argv, 5)
        name = gssapi.Name(user, gssapi.NameType.user)
        cred = raw.acquire_cred_with_password(name, password.encode(), usage="initiate", mechs=[NTLMSSP]).creds
        tname = gssapi.Name(target, gssapi.NameType.hostbased_service)
        ctx = gssapi.SecurityContext(name=tname, creds=cred, usage="initiate", mech=NTLMSSP,
                                     flags=flags, channel_bindings=cb)
        tok = ctx.step()
        send(token=b64(tok))
        while not ctx.complete:
            tok = ctx.step(unb64(recv()["token"]))
            if tok:
                send(token=b64(tok))
    else:
        cb = bindings(sys.argv, 2)
        cred = gssapi.Credentials(usage="accept", mechs=[NTLMSSP])
        ctx = gssapi.SecurityContext(creds=cred, usage="accept", channel_bindings=cb)
        while not ctx.complete:
            tok = ctx.step(unb64(recv()["token"]))
            if tok:
                send(token=b64(tok))
    key = raw.inquire_sec_context_by_oid(ctx, SESSION_KEY)
    send(done=True, session_key=key[0].hex(), peer=str(ctx.initiator_name))
    msg = ("wrapped by gss-ntlmssp as " + mode).encode()
    send(wrap=b64(ctx.wrap(msg, True).message))
    mmsg = ("signed by gss-ntlmssp as " + mode).encode()
    send(mic=b64(ctx.get_signature(mmsg)), msg=b64(mmsg))
    w = recv()
    res = ctx.unwrap(unb64(w["wrap"]))
    if not res.encrypted:
        sys.exit("peer message was not encrypted")
    send(unwrapped=b64(res.message))
    m = recv()
    ctx.verify_signature(unb64(m["msg"]), unb64(m["mic"]))
    send(verified=True)


if __name__ == "__main__":
    try:
        main()
    except gssapi.exceptions.GSSError as e:
        send(error=str(e))
        sys.exit(1)
