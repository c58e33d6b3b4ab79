package ntlm

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rc4"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gosspi/gosspi/internal/ntlmssp"
	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

// Known answers from MS-NLMP section 4.2 (4.2.1 common values, 4.2.2
// NTLMv1, 4.2.3 NTLMv1 with extended session security, 4.2.4 NTLMv2).

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	s = strings.Join(strings.Fields(s), "")
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func eq(t *testing.T, name string, got []byte, want string) {
	t.Helper()
	w := strings.Join(strings.Fields(want), "")
	if hex.EncodeToString(got) != w {
		t.Errorf("%s:\n got %x\nwant %s", name, got, w)
	}
}

var (
	katServerChallenge = [8]byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef}
	katClientChallenge = [8]byte{0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa}
	katRandomSession   = [16]byte{0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55}
	katPlaintext       = ntlmssp.ToUTF16("Plaintext")
)

const (
	// 4.2.2.3 / 4.2.3.3: the CHALLENGE_MESSAGE without TargetInfo.
	katChallengeV1 = `4e544c4d53535000 02000000 0c000c00 38000000 338202e2 0123456789abcdef
		0000000000000000 0000000000000000 06007017 0000000f 530065007200760065007200`
	// 4.2.2.3: AUTHENTICATE_MESSAGE (NTLMv1).
	katAuthenticateV1 = `4e544c4d53535000 03000000 18001800 6c000000 18001800 84000000
		0c000c00 48000000 08000800 54000000 10001000 5c000000 10001000 9c000000 358280e2
		0501280a 0000000f 44006f006d00610069006e00 5500730065007200 43004f004d0050005500540045005200
		98def7b87f88aa5dafe2df779688a172def11c7d5ccdef13
		67c43011f30298a2ad35ece64f16331c44bdbed927841f94
		518822b1b3f350c8958682ecbb3e3cb7`
	// 4.2.4.3: CHALLENGE_MESSAGE (NTLMv2).
	katChallengeV2 = `4e544c4d53535000 02000000 0c000c00 38000000 33828ae2 0123456789abcdef
		0000000000000000 24002400 44000000 06007017 0000000f 530065007200760065007200
		02000c0044006f006d00610069006e00 01000c005300650072007600650072000000 0000`
	katTargetInfoV2 = `02000c0044006f006d00610069006e00 01000c005300650072007600650072000000 0000`
	// 4.2.4.3: AUTHENTICATE_MESSAGE (NTLMv2).
	katAuthenticateV2 = `4e544c4d53535000 03000000 18001800 6c000000 54005400 84000000
		0c000c00 48000000 08000800 54000000 10001000 5c000000 10001000 d8000000 358288e2
		0501280a 0000000f 44006f006d00610069006e00 5500730065007200 43004f004d0050005500540045005200
		86c35097ac9cec102554764a57cccc19 aaaaaaaaaaaaaaaa
		68cd0ab851e51c96aabc927bebef6a1c 0101000000000000 0000000000000000 aaaaaaaaaaaaaaaa 00000000
		02000c0044006f006d00610069006e00 01000c005300650072007600650072000000 0000 00000000
		c5dad2544fc9799094ce1ce90bc9d03e`
)

func TestKnownAnswersNTLMv1(t *testing.T) {
	// 4.2.2.1
	lmHash := ntlmssp.LMOWFv1("Password")
	ntHash := ntlmssp.NTOWFv1("Password")
	eq(t, "LMOWFv1", lmHash[:], "e52cac67419a9a224a3b108f3fa6cb6d")
	eq(t, "NTOWFv1", ntHash[:], "a4f49c406510bdcab6824ee7c30fd852")
	lm, nt, sbk := ntlmssp.NTLMv1Response(ntHash, lmHash, katServerChallenge, katClientChallenge, false)
	eq(t, "SessionBaseKey", sbk[:], "d87262b0cde4b1cb7499becccdf10784")
	// 4.2.2.2
	eq(t, "LMv1 response", lm, "98def7b87f88aa5dafe2df779688a172def11c7d5ccdef13")
	eq(t, "NTLMv1 response", nt, "67c43011f30298a2ad35ece64f16331c44bdbed927841f94")
	// 4.2.2.1.3 and 4.2.2.2.3: key exchange keys and EncryptedSessionKey.
	kx := ntlmssp.KXKEY(0, false, sbk, lm, katServerChallenge, lmHash)
	eq(t, "EncryptedSessionKey (NTLM)", ntlmssp.RC4(kx[:], katRandomSession[:]), "518822b1b3f350c8958682ecbb3e3cb7")
	kx = ntlmssp.KXKEY(ntlmssp.RequestNonNTSessionKey, false, sbk, lm, katServerChallenge, lmHash)
	eq(t, "EncryptedSessionKey (NON_NT_SESSION_KEY)", ntlmssp.RC4(kx[:], katRandomSession[:]), "7452ca55c225a1ca04b48fae32cf56fc")
	kx = ntlmssp.KXKEY(ntlmssp.NegotiateLMKey, false, sbk, lm, katServerChallenge, lmHash)
	eq(t, "KeyExchangeKey (LM_KEY)", kx[:], "b09e379f7fbecb1eaf0afdcb0383c8a0")
	eq(t, "EncryptedSessionKey (LM_KEY)", ntlmssp.RC4(kx[:], katRandomSession[:]), "4cd7bb57d697ef9b549f02b8f9b37864")

	// 4.2.2.3 messages.
	chal, err := ntlmssp.ParseChallenge(unhex(t, katChallengeV1))
	if err != nil {
		t.Fatal(err)
	}
	if chal.Flags != 0xe2028233 || chal.TargetName != "Server" || chal.ServerChallenge != katServerChallenge || chal.Version == nil || chal.Version.Build != 6000 {
		t.Errorf("CHALLENGE parsed as %+v", chal)
	}
	eq(t, "CHALLENGE_MESSAGE", chal.Marshal(), katChallengeV1)
	am := &ntlmssp.AuthenticateMessage{
		LmChallengeResponse: lm, NtChallengeResponse: nt, Domain: "Domain", User: "User", Workstation: "COMPUTER",
		EncryptedRandomSessionKey: unhex(t, "518822b1b3f350c8958682ecbb3e3cb7"), Flags: 0xe2808235,
		Version: &ntlmssp.Version{Major: 5, Minor: 1, Build: 2600, Revision: 15},
	}
	eq(t, "AUTHENTICATE_MESSAGE", am.Marshal(), katAuthenticateV1)
	back, err := ntlmssp.ParseAuthenticate(unhex(t, katAuthenticateV1))
	if err != nil {
		t.Fatal(err)
	}
	if back.User != "User" || back.Domain != "Domain" || back.Workstation != "COMPUTER" || back.HasMIC || back.Version == nil {
		t.Errorf("AUTHENTICATE parsed as %+v", back)
	}

	// 4.2.2.4 GSS_WrapEx, NTLMv1 without ESS.
	wrapKAT(t, ntlmssp.Negotiate56|ntlmssp.NegotiateSign|ntlmssp.NegotiateSeal, katRandomSession,
		"56fe04d861f9319af0d7238a2e3b4d457fb8", "0100000000000000 09dcd1df2e459d36")
}

func TestKnownAnswersNTLMv1ESS(t *testing.T) {
	ntHash := ntlmssp.NTOWFv1("Password")
	lmHash := ntlmssp.LMOWFv1("Password")
	// 4.2.3.2
	lm, nt, sbk := ntlmssp.NTLMv1Response(ntHash, lmHash, katServerChallenge, katClientChallenge, true)
	eq(t, "LMv1 response (ESS)", lm, "aaaaaaaaaaaaaaaa00000000000000000000000000000000")
	eq(t, "NTLMv1 response (ESS)", nt, "7537f803ae367128ca458204bde7caf81e97ed2683267232")
	flags := ntlmssp.Negotiate56 | ntlmssp.NegotiateSign | ntlmssp.NegotiateSeal | ntlmssp.NegotiateExtendedSessionSecurity
	// 4.2.3.1.3: KeyExchangeKey; without KEY_EXCH it is the exported key.
	kx := ntlmssp.KXKEY(flags, false, sbk, lm, katServerChallenge, lmHash)
	eq(t, "KeyExchangeKey (ESS)", kx[:], "eb93429a8bd952f8b89c55b87f475edc")
	eq(t, "SealKey", ntlmssp.SEALKEY(flags, kx, true), "04dd7f014d8504d265a25cc86a3a7c06")
	eq(t, "SignKey", ntlmssp.SIGNKEY(flags, kx, true), "60e799be5c72fc92922ae8ebe961fb8d")
	// 4.2.3.3 CHALLENGE_MESSAGE (NTLM2 session security).
	const chalESS = `4e544c4d53535000 02000000 0c000c00 38000000 33820a82 0123456789abcdef
		0000000000000000 0000000000000000 06007017 0000000f 530065007200760065007200`
	chal, err := ntlmssp.ParseChallenge(unhex(t, chalESS))
	if err != nil {
		t.Fatal(err)
	}
	if chal.Flags&ntlmssp.NegotiateExtendedSessionSecurity == 0 || chal.TargetName != "Server" {
		t.Errorf("CHALLENGE parsed as %+v", chal)
	}
	eq(t, "CHALLENGE_MESSAGE (ESS)", chal.Marshal(), chalESS)
	// 4.2.3.3 AUTHENTICATE_MESSAGE: no key exchange, so the empty
	// EncryptedRandomSessionKey field has the offset where it would be
	// (0x9c, the end of the message; MS-NLMP 2.2.1.3).
	const authESS = `4e544c4d53535000 03000000 18001800 6c000000 18001800 84000000
		0c000c00 48000000 08000800 54000000 10001000 5c000000 00000000 9c000000 35820882
		0501280a 0000000f 44006f006d00610069006e00 5500730065007200 43004f004d0050005500540045005200
		aaaaaaaaaaaaaaaa00000000000000000000000000000000
		7537f803ae367128ca458204bde7caf81e97ed2683267232`
	am := &ntlmssp.AuthenticateMessage{
		LmChallengeResponse: lm, NtChallengeResponse: nt, Domain: "Domain", User: "User", Workstation: "COMPUTER",
		Flags: 0x82088235, Version: &ntlmssp.Version{Major: 5, Minor: 1, Build: 2600, Revision: 15},
	}
	eq(t, "AUTHENTICATE_MESSAGE (ESS)", am.Marshal(), authESS)
	back, err := ntlmssp.ParseAuthenticate(unhex(t, authESS))
	if err != nil {
		t.Fatal(err)
	}
	if back.User != "User" || back.Domain != "Domain" || back.Workstation != "COMPUTER" || back.HasMIC ||
		len(back.EncryptedRandomSessionKey) != 0 || !bytes.Equal(back.NtChallengeResponse, nt) {
		t.Errorf("AUTHENTICATE parsed as %+v", back)
	}
	eq(t, "AUTHENTICATE_MESSAGE (ESS) re-encoded", back.Marshal(), authESS)
	// 4.2.3.4 GSS_WrapEx.
	wrapKAT(t, flags, kx, "a02372f6530273f3aa1eb90190ce5200c99d", "01000000ff2aeb52f681793a00000000")
}

func TestKnownAnswersNTLMv2(t *testing.T) {
	ntHash := ntlmssp.NTOWFv1("Password")
	// 4.2.4.1.1
	rk := ntlmssp.NTOWFv2(ntHash, "User", "Domain")
	eq(t, "NTOWFv2", rk[:], "0c868a403bfd7a93a3001ef22ef02e3f")
	ti := unhex(t, katTargetInfoV2)
	lm, nt, sbk := ntlmssp.NTLMv2Response(rk, katServerChallenge, katClientChallenge, 0, ti)
	// 4.2.4.1.2 and 4.2.4.2
	eq(t, "SessionBaseKey", sbk[:], "8de40ccadbc14a82f15cb0ad0de95ca3")
	eq(t, "LMv2 response", lm, "86c35097ac9cec102554764a57cccc19aaaaaaaaaaaaaaaa")
	eq(t, "NTProofStr", nt[:16], "68cd0ab851e51c96aabc927bebef6a1c")
	flags := uint32(0xe2888235)
	kx := ntlmssp.KXKEY(flags, true, sbk, lm, katServerChallenge, [16]byte{})
	eq(t, "EncryptedSessionKey", ntlmssp.RC4(kx[:], katRandomSession[:]), "c5dad2544fc9799094ce1ce90bc9d03e")

	// 4.2.4.3 messages.
	chal, err := ntlmssp.ParseChallenge(unhex(t, katChallengeV2))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(chal.TargetInfo, ti) || chal.TargetName != "Server" {
		t.Errorf("CHALLENGE parsed as %+v", chal)
	}
	av, err := ntlmssp.ParseAvPairs(chal.TargetInfo)
	if err != nil || av.String(ntlmssp.AvNbDomainName) != "Domain" || av.String(ntlmssp.AvNbComputerName) != "Server" {
		t.Errorf("TargetInfo parsed as %v, %v", av, err)
	}
	eq(t, "CHALLENGE_MESSAGE", chal.Marshal(), katChallengeV2)
	am := &ntlmssp.AuthenticateMessage{
		LmChallengeResponse: lm, NtChallengeResponse: nt, Domain: "Domain", User: "User", Workstation: "COMPUTER",
		EncryptedRandomSessionKey: ntlmssp.RC4(kx[:], katRandomSession[:]), Flags: flags,
		Version: &ntlmssp.Version{Major: 5, Minor: 1, Build: 2600, Revision: 15},
	}
	eq(t, "AUTHENTICATE_MESSAGE", am.Marshal(), katAuthenticateV2)

	// 4.2.4.4 GSS_WrapEx.
	wflags := ntlmssp.Negotiate56 | ntlmssp.Negotiate128 | ntlmssp.NegotiateSign | ntlmssp.NegotiateSeal | ntlmssp.NegotiateKeyExch | ntlmssp.NegotiateExtendedSessionSecurity
	eq(t, "SealKey", ntlmssp.SEALKEY(wflags, katRandomSession, true), "59f600973cc4960a25480a7c196e4c58")
	eq(t, "SignKey", ntlmssp.SIGNKEY(wflags, katRandomSession, true), "4788dc861b4782f35d43fd98fe1a2d39")
	wrapKAT(t, wflags, katRandomSession, "54e50165bf1936dc996020c1811b0f06fb5f", "010000007fb38ec5c55d497600000000")
}

// wrapKAT seals "Plaintext" as a client with the given flags and exported
// session key, compares with the spec, and unseals it as the server.
func wrapKAT(t *testing.T, flags uint32, key [16]byte, cipher, sig string) {
	t.Helper()
	c := newSealer(flags, key, true, 0, 0, 0, 0)
	data := append([]byte(nil), katPlaintext...)
	msg := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: make([]byte, 16)},
		sspi.SecBuffer{BufferType: sspi.SECBUFFER_DATA, Buffer: data})
	if err := c.seal(msg); err != nil {
		t.Fatal(err)
	}
	eq(t, "sealed data", msg.Buffers[1].Buffer, cipher)
	eq(t, "signature", msg.Buffers[0].Buffer, sig)
	s := newSealer(flags, key, false, 0, 0, 0, 0)
	if err := s.unseal(msg); err != nil {
		t.Fatalf("unseal: %v", err)
	}
	if !bytes.Equal(msg.Buffers[1].Buffer, katPlaintext) {
		t.Errorf("unsealed %x", msg.Buffers[1].Buffer)
	}
}

// TestChannelBindingHash checks MsvAvChannelBindings against the example of
// Microsoft's "NTLM and Channel Binding Hash" note.
func TestChannelBindingHash(t *testing.T) {
	cb := &sspi.ChannelBindings{ApplicationData: append([]byte("tls-server-end-point:"),
		unhex(t, "ea05fefecc6b0bd571dbbc5baa3ed45386d0446835f7b74c85621b9983475f95")...)}
	h := cb.GSSBindingsHash()
	eq(t, "MsvAvChannelBindings", h[:], "6586e99d81c2fc984e47172fd4dd0310")
}

func TestRC4Once(t *testing.T) {
	for _, n := range []int{5, 7, 8, 16} {
		key := make([]byte, n)
		for i := range key {
			key[i] = byte(31*i + n)
		}
		src := []byte("sixteen byte key and then some more bytes")
		c, _ := rc4.NewCipher(key)
		want := make([]byte, len(src))
		c.XORKeyStream(want, src)
		if got := ntlmssp.RC4(key, src); !bytes.Equal(got, want) {
			t.Errorf("key %d bytes: %x, want %x", n, got, want)
		}
	}
}

func TestHMACMD5(t *testing.T) {
	for _, kl := range []int{0, 16, 64, 80} {
		for _, ml := range []int{0, 1, 63, 64, 448, 449, 2000} {
			key, msg := make([]byte, kl), make([]byte, ml)
			for i := range key {
				key[i] = byte(i * 7)
			}
			for i := range msg {
				msg[i] = byte(i * 13)
			}
			m := hmac.New(md5.New, key)
			m.Write(msg)
			want := m.Sum(nil)
			got := ntlmssp.HMACMD5(key, msg[:ml/3], msg[ml/3:])
			if !bytes.Equal(got[:], want) {
				t.Errorf("key %d, message %d: %x, want %x", kl, ml, got, want)
			}
		}
	}
}

// repeatReader returns its pattern over and over: with the 4.2.1 server
// challenge as the pattern, every 8-byte draw of the server is that
// challenge.
type repeatReader []byte

func (r repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = r[i%len(r)]
	}
	return len(p), nil
}

// TestKnownAnswerNTLMv2Server runs the server side of MS-NLMP 4.2.4: the
// spec's AUTHENTICATE_MESSAGE, whose NTLMv2 client blob carries Time = 0
// (1601-01-01), verifies with the server's clock at that instant and its
// challenge set to the spec's, and the exported session key unseals the
// 4.2.4.4 sealed message.
func TestKnownAnswerNTLMv2Server(t *testing.T) {
	epoch := time.Date(1601, 1, 1, 0, 0, 0, 0, time.UTC)
	if got := fromFiletime(0); !got.Equal(epoch) {
		t.Fatalf("fromFiletime(0) = %v, want %v", got, epoch)
	}
	if got := filetime(epoch); got != 0 {
		t.Fatalf("filetime(1601) = %d, want 0", got)
	}
	for _, tm := range []time.Time{time.Date(1500, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2500, 6, 1, 12, 0, 0, 700, time.UTC), time.Date(30000, 1, 1, 0, 0, 0, 0, time.UTC)} {
		if ft := filetime(tm); tm.Year() >= 1601 && !fromFiletime(ft).Equal(tm.Truncate(100)) {
			t.Errorf("FILETIME round trip of %v gives %v", tm, fromFiletime(ft))
		}
	}
	store := NewMemoryStore()
	store.Add("Domain", "User", "Password")
	srv := New(Config{Accounts: store, Now: func() time.Time { return epoch }, Rand: repeatReader(katServerChallenge[:])})
	cred := serverCred(t, srv)
	neg := (&ntlmssp.NegotiateMessage{Flags: 0xe2888235}).Marshal()
	ctx, out, err := srv.AcceptLsaModeContext(context.Background(), cred, nil, &secpkg.AcceptContextParams{Input: withCB(neg, nil)})
	if err != nil {
		t.Fatalf("NEGOTIATE: %v", err)
	}
	chal, err := ntlmssp.ParseChallenge(out.Output[0].Buffer)
	if err != nil || chal.ServerChallenge != katServerChallenge {
		t.Fatalf("CHALLENGE %+v, %v: want the spec's server challenge", chal, err)
	}
	_, out, err = srv.AcceptLsaModeContext(context.Background(), cred, ctx, &secpkg.AcceptContextParams{Input: withCB(unhex(t, katAuthenticateV2), nil)})
	if err != nil {
		t.Fatalf("4.2.4.3 AUTHENTICATE at 1601-01-01: %v", err)
	}
	defer ctx.Delete()
	uc, err := srv.InitUserModeContext(out.ContextData)
	if err != nil {
		t.Fatal(err)
	}
	u := uc.(*UserContext)
	if u.s.key != katRandomSession {
		t.Fatalf("exported session key %x, want the spec's RandomSessionKey", u.s.key)
	}
	if n, _ := uc.QueryAttributes(sspi.SECPKG_ATTR_NAMES); n == nil {
		t.Error("no SECPKG_ATTR_NAMES")
	}
	// 4.2.4.4: the client's sealed "Plaintext" unseals on the server.
	msg := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: unhex(t, "010000007fb38ec5c55d497600000000")},
		sspi.SecBuffer{BufferType: sspi.SECBUFFER_DATA, Buffer: unhex(t, "54e50165bf1936dc996020c1811b0f06fb5f")})
	if _, err := uc.UnsealMessage(msg, 0); err != nil {
		t.Fatalf("unseal 4.2.4.4: %v", err)
	}
	if !bytes.Equal(msg.Buffers[1].Buffer, katPlaintext) {
		t.Errorf("unsealed %x", msg.Buffers[1].Buffer)
	}
	// The same message a day later is refused as stale (MaxClockSkew).
	late := New(Config{Accounts: store, Now: func() time.Time { return epoch.Add(24 * time.Hour) }, Rand: repeatReader(katServerChallenge[:])})
	lcred := serverCred(t, late)
	lctx, _, err := late.AcceptLsaModeContext(context.Background(), lcred, nil, &secpkg.AcceptContextParams{Input: withCB(neg, nil)})
	if err != nil {
		t.Fatal(err)
	}
	defer lctx.Delete()
	if _, _, err := late.AcceptLsaModeContext(context.Background(), lcred, lctx, &secpkg.AcceptContextParams{Input: withCB(unhex(t, katAuthenticateV2), nil)}); !errors.Is(err, sspi.SEC_E_TIME_SKEW) {
		t.Fatalf("a day late: %v, want SEC_E_TIME_SKEW", err)
	}
}
