#!/usr/bin/python3
"""MIT GSS-API peer for the gosspi Kerberos interop tests.

Reads one JSON request per line on stdin, answers one JSON line on stdout.
Binary values are base64. It runs MIT krb5's GSS-API through python3-gssapi,
so the Go tests talk to the real MIT mechanism, both as initiator and as
acceptor. The environment (KRB5_CONFIG, KRB5CCNAME, KRB5_KTNAME) selects the
realm, the client's ccache and the acceptor's keytab.
"""
import base64
import json
import sys

import gssapi
import gssapi.raw as graw

ctx = None

def b64(b):
    return base64.b64encode(b or b"").decode()

def unb64(s):
    return base64.b64decode(s or "")

def bindings(req):
    if "cb" not in req:
        return None
    return graw.ChannelBindings(application_data=unb64(req["cb"]))

FLAGS = {
    "mutual": gssapi.RequirementFlag.mutual_authentication,
    "replay": gssapi.RequirementFlag.replay_detection,
    "sequence": gssapi.RequirementFlag.out_of_sequence_detection,
    "conf": gssapi.RequirementFlag.confidentiality,
    "integ": gssapi.RequirementFlag.integrity,
    "deleg": gssapi.RequirementFlag.delegate_to_peer,
    "dce": gssapi.RequirementFlag.dce_style,
}

def handle(req):
    global ctx
    op = req["op"]
    if op == "init":
        flags = 0
        for f in req.get("flags", []):
            flags |= FLAGS[f]
        name = gssapi.Name(req["target"], gssapi.NameType.hostbased_service)
        ctx = gssapi.SecurityContext(name=name, usage="initiate", flags=flags,
                                     mech=gssapi.MechType.kerberos,
                                     channel_bindings=bindings(req))
        tok = ctx.step()
        return {"token": b64(tok), "complete": ctx.complete}
    if op == "step":
        tok = ctx.step(unb64(req["token"]))
        return {"token": b64(tok), "complete": ctx.complete}
    if op == "accept":
        creds = None
        if req.get("keytab"):
            creds = gssapi.Credentials(usage="accept", store={"keytab": req["keytab"]})
        ctx = gssapi.SecurityContext(usage="accept", creds=creds, channel_bindings=bindings(req))
        tok = ctx.step(unb64(req["token"]))
        resp = {"token": b64(tok), "complete": ctx.complete}
        if ctx.complete:  # DCE style needs a third leg first
            resp.update(initiator=str(ctx.initiator_name),
                        delegated=ctx.delegated_creds is not None,
                        flags=int(ctx.actual_flags))
        return resp
    if op == "wrap":
        r = ctx.wrap(unb64(req["data"]), req.get("conf", True))
        return {"token": b64(r.message), "conf": r.encrypted}
    if op == "unwrap":
        r = ctx.unwrap(unb64(req["token"]))
        return {"data": b64(r.message), "conf": r.encrypted}
    if op == "mic":
        return {"token": b64(ctx.get_signature(unb64(req["data"])))}
    if op == "verify":
        ctx.verify_signature(unb64(req["data"]), unb64(req["token"]))
        return {"ok": True}
    raise ValueError("unknown op " + op)

def main():
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            resp = handle(json.loads(line))
        except gssapi.exceptions.GSSError as e:
            resp = {"error": str(e), "major": getattr(e, "maj_code", 0), "minor": getattr(e, "min_code", 0)}
        except Exception as e:  # noqa: BLE001 - report anything to the test
            resp = {"error": "%s: %s" % (type(e).__name__, e)}
        sys.stdout.write(json.dumps(resp) + "\n")
        sys.stdout.flush()

if __name__ == "__main__":
    main()
