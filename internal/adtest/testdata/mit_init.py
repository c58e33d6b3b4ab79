#!/usr/bin/python3
"""MIT krb5 GSS-API initiator (python3-gssapi) for the AD tests.

argv[1] is the target (HTTP@host); KRB5_CONFIG and KRB5CCNAME select the
realm and the client's TGT. It prints the AP-REQ token (base64), reads the
acceptor's AP-REP (base64) from stdin, prints "complete" and a message
wrapped with confidentiality (base64), then reads a wrapped message and
prints it unwrapped.
"""
import base64
import sys

import gssapi

F = gssapi.RequirementFlag
name = gssapi.Name(sys.argv[1], gssapi.NameType.hostbased_service)
ctx = gssapi.SecurityContext(name=name, usage="initiate", mech=gssapi.MechType.kerberos,
                             flags=F.mutual_authentication | F.integrity | F.confidentiality |
                             F.replay_detection | F.out_of_sequence_detection)
print(base64.b64encode(ctx.step()).decode(), flush=True)
ctx.step(base64.b64decode(sys.stdin.readline()))
print("complete" if ctx.complete else "incomplete", flush=True)
print(base64.b64encode(ctx.wrap(b"hello from MIT", True).message).decode(), flush=True)
print(ctx.unwrap(base64.b64decode(sys.stdin.readline())).message.decode(), flush=True)
