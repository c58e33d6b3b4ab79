#!/usr/bin/python3
"""Computes the S4U test vectors of s4u_test.go with impacket (Debian's
python3-impacket), an implementation independent of gosspi's:

  python3 kerberos/testdata/s4u/impacket_vectors.py

prints, one per line: the PA-FOR-USER checksum (MS-SFU 2.2.1) and the DER of
PA-FOR-USER for each key, then the DER of PA-PAC-OPTIONS with the
resource-based-constrained-delegation bit (MS-KILE 2.2.10), all hex.
"""
import struct

from pyasn1.codec.der import encoder
from pyasn1.type.univ import noValue

from impacket.krb5 import constants
from impacket.krb5.asn1 import PA_FOR_USER_ENC, PA_PAC_OPTIONS, seq_set
from impacket.krb5.crypto import Key, _HMACMD5
from impacket.krb5.types import Principal

USER, REALM = "alice", "ADDC.GOSSPI.TEST"
KEYS = [
    (18, bytes(range(32))),                       # aes256 session key
    (23, bytes.fromhex("00112233445566778899aabbccddeeff")),  # rc4 session key
]

for etype, raw in KEYS:
    name = Principal(USER, type=constants.PrincipalNameType.NT_PRINCIPAL.value)
    data = struct.pack("<I", constants.PrincipalNameType.NT_PRINCIPAL.value)
    data += USER.encode() + REALM.encode() + b"Kerberos"
    cksum = _HMACMD5.checksum(Key(etype, raw), 17, data)
    pa = PA_FOR_USER_ENC()
    seq_set(pa, "userName", name.components_to_asn1)
    pa["userRealm"] = REALM
    pa["cksum"] = noValue
    pa["cksum"]["cksumtype"] = int(constants.ChecksumTypes.hmac_md5.value)
    pa["cksum"]["checksum"] = cksum
    pa["auth-package"] = "Kerberos"
    print(cksum.hex())
    print(encoder.encode(pa).hex())

opts = PA_PAC_OPTIONS()
opts["flags"] = constants.encodeFlags([constants.PAPacOptions.resource_based_constrained_delegation.value])
print(encoder.encode(opts).hex())
