#!/usr/bin/python3
"""Attribute a CPU profile's samples of Negotiate handshakes to buckets.

    go tool pprof -traces BINARY PROFILE | bench/attribute/attribute.py

Every sample whose stack passes through negotiate.(*Package).InitLsaModeContext
or AcceptLsaModeContext is Negotiate's. Of those, a stack through the
mechListMIC code (makeMechListMIC, verifyMechListMIC, micContext,
exportAfterMIC) is "mic" (computed by the inner package for Negotiate), a
stack through the inner package's own LSA-mode calls (ntlm.(*Package) or
kerberos.(*Package)) is "inner" (the bare handshake's work), and the rest
is "own": framing, DER, mechanism choice, dispatch, wrapping ContextData,
and the allocations those make (mallocgc and GC assists count where they
happen). Samples outside (the benchmark loop, background GC workers,
the scheduler) are "outside"; background GC is shown on its own line.
"""
import re
import sys

MIC = ("negotiate.makeMechListMIC", "negotiate.verifyMechListMIC",
       "negotiate.(*negContext).micContext", "negotiate.(*negContext).exportAfterMIC")
INNER = ("gosspi/ntlm.(*Package).", "gosspi/kerberos.(*Package).")
ENTRY = ("negotiate.(*Package).InitLsaModeContext", "negotiate.(*Package).AcceptLsaModeContext")


def val(s):
    m = re.match(r"\s*([\d.]+)(ns|us|µs|ms|s)\s*$", s)
    if not m:
        return None
    f = {"ns": 1e-6, "us": 1e-3, "µs": 1e-3, "ms": 1, "s": 1000}[m.group(2)]
    return float(m.group(1)) * f


def main():
    buckets = {"own": 0.0, "inner": 0.0, "mic": 0.0, "outside": 0.0, "gc-background": 0.0}
    stack, v = [], None

    def flush():
        if v is None:
            return
        s = "\n".join(stack)
        if any(e in s for e in ENTRY):
            if any(m in s for m in MIC):
                buckets["mic"] += v
            elif any(i in s for i in INNER):
                buckets["inner"] += v
            else:
                buckets["own"] += v
        elif "runtime.gcBgMarkWorker" in s:
            buckets["gc-background"] += v
        else:
            buckets["outside"] += v

    for line in sys.stdin:
        if line.startswith("-----------+"):
            flush()
            stack, v = [], None
            continue
        parts = line.rstrip("\n").split(None, 1)
        if v is None and len(parts) == 2 and val(parts[0]) is not None:
            v = val(parts[0])
            stack.append(parts[1])
        elif v is not None:
            stack.append(line.strip())
    flush()
    for k, x in buckets.items():
        print(f"{k:14s} {x:9.0f} ms")
    if buckets["inner"]:
        print(f"own/inner      {100 * buckets['own'] / buckets['inner']:.1f} %")
        print(f"mic/inner      {100 * buckets['mic'] / buckets['inner']:.1f} %")


main()
