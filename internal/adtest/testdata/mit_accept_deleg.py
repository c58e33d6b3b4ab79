#!/usr/bin/python3
"""MIT krb5 GSS-API acceptor (python3-gssapi) that uses delegated credentials.

argv[1] is the acceptor's keytab, argv[2] the next hop's target (HTTP@host).
It reads the initiator's AP-REQ (base64) from stdin, accepts it, prints the
initiator's name and "delegated" or "not-delegated"; with delegated
credentials it then initiates a context to the next hop with them and prints
that AP-REQ (base64).
"""
import base64
import sys

import gssapi

creds = gssapi.Credentials(usage="accept", store={"keytab": sys.argv[1]})
ctx = gssapi.SecurityContext(usage="accept", creds=creds)
ctx.step(base64.b64decode(sys.stdin.readline()))
print(str(ctx.initiator_name), flush=True)
if ctx.delegated_creds is None:
    print("not-delegated", flush=True)
    sys.exit(0)
print("delegated", flush=True)
name = gssapi.Name(sys.argv[2], gssapi.NameType.hostbased_service)
hop = gssapi.SecurityContext(name=name, usage="initiate", creds=ctx.delegated_creds,
                             mech=gssapi.MechType.kerberos)
print(base64.b64encode(hop.step()).decode(), flush=True)
