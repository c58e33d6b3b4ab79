package kerberos

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRFC8009Vectors checks the aes-sha2 profile against the sample
// results of RFC 8009 Appendix A: string-to-key, the derived keys, the
// encryption of four plaintexts with the published confounders, and the
// checksum.
func TestRFC8009Vectors(t *testing.T) {
	salt := string(unhex(t, "10DF9DD783E5BC8ACEA1730E74355F61")) + "ATHENA.MIT.EDUraeburn"
	for _, tc := range []struct {
		etype                 int32
		s2k, base, kc, ke, ki string
		checksum              string
		enc                   [4][2]string // confounder, ciphertext
	}{
		{
			etype:    etypeAES128SHA256,
			s2k:      "089BCA48B105EA6EA77CA5D2F39DC5E7",
			base:     "3705D96080C17728A0E800EAB6E0D23C",
			kc:       "B31A018A48F54776F403E9A396325DC3",
			ke:       "9B197DD1E8C5609D6E67C3E37C62C72E",
			ki:       "9FDA0E56AB2D85E1569A688696C26A6C",
			checksum: "D78367186643D67B411CBA9139FC1DEE",
			enc: [4][2]string{
				{"7E5895EAF2672435BAD817F545A37148", "EF85FB890BB8472F4DAB20394DCA781DAD877EDA39D50C870C0D5A0A8E48C718"},
				{"7BCA285E2FD4130FB55B1A5C83BC5B24", "84D7F30754ED987BAB0BF3506BEB09CFB55402CEF7E6877CE99E247E52D16ED4421DFDF8976C"},
				{"56AB21713FF62C0A1457200F6FA9948F", "3517D640F50DDC8AD3628722B3569D2AE07493FA8263254080EA65C1008E8FC295FB4852E7D83E1E7C48C37EEBE6B0D3"},
				{"A7A4E29A4728CE10664FB64E49AD3FAC", "720F73B18D9859CD6CCB4346115CD336C70F58EDC0C4437C5573544C31C813BCE1E6D072C186B39A413C2F92CA9B8334A287FFCBFC"},
			},
		},
		{
			etype:    etypeAES256SHA384,
			s2k:      "45BD806DBF6A833A9CFFC1C94589A222367A79BC21C413718906E9F578A78467",
			base:     "6D404D37FAF79F9DF0D33568D320669800EB4836472EA8A026D16B7182460C52",
			kc:       "EF5718BE86CC84963D8BBB5031E9F5C4BA41F28FAF69E73D",
			ke:       "56AB22BEE63D82D7BC5227F6773F8EA7A5EB1C825160C38312980C442E5C7E49",
			ki:       "69B16514E3CD8E56B82010D5C73012B622C4D00FFC23ED1F",
			checksum: "45EE791567EEFCA37F4AC1E0222DE80D43C3BFA06699672A",
			enc: [4][2]string{
				{"F764E9FA15C276478B2C7D0C4E5F58E4", "41F53FA5BFE7026D91FAF9BE959195A058707273A96A40F0A01960621AC612748B9BBFBE7EB4CE3C"},
				{"B80D3251C1F6471494256FFE712D0B9A", "4ED7B37C2BCAC8F74F23C1CF07E62BC7B75FB3F637B9F559C7F664F69EAB7B6092237526EA0D1F61CB20D69D10F2"},
				{"53BF8A0D105265D4E276428624CE5E63", "BC47FFEC7998EB91E8115CF8D19DAC4BBBE2E163E87DD37F49BECA92027764F68CF51F14D798C2273F35DF574D1F932E40C4FF255B36A266"},
				{"763E65367E864F02F55153C7E3B58AF1", "40013E2DF58E8751957D2878BCD2D6FE101CCFD556CB1EAE79DB3C3EE86429F2B2A602AC86FEF6ECB647D6295FAE077A1FEB517508D2C16B4192E01F62"},
			},
		},
	} {
		t.Run(enctypeName(tc.etype), func(t *testing.T) {
			k, err := sha2StringToKey(tc.etype, "password", salt, []byte{0, 0, 0x80, 0})
			if err != nil || !bytes.Equal(k, unhex(t, tc.s2k)) {
				t.Fatalf("string-to-key: %x, %v", k, err)
			}
			if k, err := sha2StringToKey(tc.etype, "password", salt, nil); err != nil || !bytes.Equal(k, unhex(t, tc.s2k)) {
				t.Fatalf("string-to-key with the default count: %x, %v", k, err)
			}
			if _, err := sha2StringToKey(tc.etype, "password", salt, []byte{0, 0, 0, 0}); err == nil {
				t.Fatal("an iteration count of zero was taken")
			}
			base := unhex(t, tc.base)
			h, keyLen, macLen := sha2Params(tc.etype)
			for _, d := range []struct {
				kind byte
				n    int
				want string
			}{{0x99, macLen, tc.kc}, {0xAA, keyLen, tc.ke}, {0x55, macLen, tc.ki}} {
				if got := kdfHMACSHA2(h, base, usageLabel(2, d.kind), d.n); !bytes.Equal(got, unhex(t, d.want)) {
					t.Fatalf("derived key %#x: %x", d.kind, got)
				}
			}
			plain := unhex(t, "000102030405060708090A0B0C0D0E0F1011121314")
			for i, n := range []int{0, 6, 16, 21} {
				a, err := newAESSHA2(tc.etype, append([]byte(nil), base...), bytes.NewReader(unhex(t, tc.enc[i][0])))
				if err != nil {
					t.Fatal(err)
				}
				ct, err := a.encrypt(2, plain[:n])
				if err != nil || !bytes.Equal(ct, unhex(t, tc.enc[i][1])) {
					t.Fatalf("encrypt %d bytes: %x, %v", n, ct, err)
				}
				pt, err := a.decrypt(2, ct)
				if err != nil || !bytes.Equal(pt, plain[:n]) {
					t.Fatalf("decrypt %d bytes: %x, %v", n, pt, err)
				}
				ct[len(ct)-1] ^= 1
				if _, err := a.decrypt(2, ct); err != errIntegrity {
					t.Fatalf("a tampered ciphertext: %v", err)
				}
			}
			a, _ := newAESSHA2(tc.etype, base, nil)
			if got := a.checksum(2, plain[:7], plain[7:]); !bytes.Equal(got, unhex(t, tc.checksum)) {
				t.Fatalf("checksum %x", got)
			}
			for n := 0; n < 16+macLen; n++ {
				if _, err := a.decrypt(2, make([]byte, n)); err != errIntegrity {
					t.Fatalf("a %d-byte ciphertext: %v", n, err)
				}
			}
		})
	}
}
