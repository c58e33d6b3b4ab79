package dcerpc

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"strconv"

	"github.com/gosspi/gosspi/internal/ndr"
)

// EPMapper is the endpoint mapper interface, e1af8308-5d1f-11c9-91a4-
// 08002b14a0fa version 3.0 (C706 appendix O; MS-RPCE 2.2.1.2), listening
// on TCP port 135.
var EPMapper = SyntaxID{UUID: ParseUUID("e1af8308-5d1f-11c9-91a4-08002b14a0fa"), Major: 3}

// EPMapperPort is the endpoint mapper's well-known TCP port.
const EPMapperPort = "135"

const opEptMap = 3

// Protocol identifiers of tower floors (C706 appendix I; MS-RPCE 2.2.1.2.5).
const (
	towerUUID   = 0x0d
	towerNCACN  = 0x0b // connection-oriented RPC
	towerTCP    = 0x07
	towerIP     = 0x09
	maxTowers   = 4
	maxFloors   = 8
	floorLimits = 64 // bytes of one floor side we accept
)

// tower encodes the protocol tower of ncacn_ip_tcp for iface (the port
// and address left zero, as a lookup sends them).
func tower(iface SyntaxID) []byte {
	floor := func(b []byte, lhs, rhs []byte) []byte {
		b = binary.LittleEndian.AppendUint16(b, uint16(len(lhs)))
		b = append(b, lhs...)
		b = binary.LittleEndian.AppendUint16(b, uint16(len(rhs)))
		return append(b, rhs...)
	}
	syntax := func(s SyntaxID) (lhs, rhs []byte) {
		lhs = append([]byte{towerUUID}, s.UUID[:]...)
		lhs = binary.LittleEndian.AppendUint16(lhs, s.Major)
		return lhs, binary.LittleEndian.AppendUint16(nil, s.Minor)
	}
	b := binary.LittleEndian.AppendUint16(nil, 5)
	l, r := syntax(iface)
	b = floor(b, l, r)
	l, r = syntax(NDR)
	b = floor(b, l, r)
	b = floor(b, []byte{towerNCACN}, []byte{0, 0})
	b = floor(b, []byte{towerTCP}, []byte{0, 0})
	return floor(b, []byte{towerIP}, []byte{0, 0, 0, 0})
}

// parseTower returns the TCP port of an ncacn_ip_tcp tower for iface, or
// 0 when the tower is for something else.
func parseTower(b []byte, iface SyntaxID) (int, error) {
	if len(b) < 2 {
		return 0, protoErr("short tower")
	}
	n := int(binary.LittleEndian.Uint16(b))
	if n > maxFloors {
		return 0, protoErr("tower of %d floors", n)
	}
	b = b[2:]
	side := func() ([]byte, error) {
		if len(b) < 2 {
			return nil, protoErr("truncated tower floor")
		}
		l := int(binary.LittleEndian.Uint16(b))
		if l > floorLimits || l > len(b)-2 {
			return nil, protoErr("tower floor side of %d bytes", l)
		}
		s := b[2 : 2+l]
		b = b[2+l:]
		return s, nil
	}
	port, sawIface, sawNCACN := 0, false, false
	for i := 0; i < n; i++ {
		lhs, err := side()
		if err != nil {
			return 0, err
		}
		rhs, err := side()
		if err != nil {
			return 0, err
		}
		if len(lhs) == 0 {
			return 0, protoErr("empty tower floor")
		}
		switch lhs[0] {
		case towerUUID:
			if i == 0 && len(lhs) == 19 && [16]byte(lhs[1:17]) == iface.UUID && binary.LittleEndian.Uint16(lhs[17:]) == iface.Major {
				sawIface = true
			}
		case towerNCACN:
			sawNCACN = true
		case towerTCP:
			if len(rhs) != 2 {
				return 0, protoErr("TCP floor with %d bytes", len(rhs))
			}
			port = int(binary.BigEndian.Uint16(rhs))
		}
	}
	if !sawIface || !sawNCACN {
		return 0, nil
	}
	return port, nil
}

// LookupPort asks the endpoint mapper at host (port 135) for the TCP port
// of iface with ept_map (C706 appendix O).
func LookupPort(ctx context.Context, host string, iface SyntaxID) (int, error) {
	c, err := Dial(ctx, net.JoinHostPort(host, EPMapperPort))
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return c.EptMap(ctx, iface)
}

// EptMap binds the connection to the endpoint mapper and maps iface to
// its TCP port.
func (c *Conn) EptMap(ctx context.Context, iface SyntaxID) (int, error) {
	if err := c.Bind(ctx, EPMapper, nil); err != nil {
		return 0, fmt.Errorf("dcerpc: endpoint mapper: %w", err)
	}
	t := tower(iface)
	var e ndr.Encoder
	// [in, ptr] UUID *obj: the nil UUID.
	e.Pointer(true, func(e *ndr.Encoder) { e.Raw(make([]byte, 16)) })
	e.Flush()
	// [in, ptr] twr_p_t map_tower.
	e.Pointer(true, func(e *ndr.Encoder) {
		e.Uint32(uint32(len(t))) // conformance of tower_octet_string
		e.Uint32(uint32(len(t))) // tower_length
		e.Raw(t)
	})
	e.Flush()
	// [in, out] ept_lookup_handle_t *entry_handle: a nil context handle.
	e.Align(4)
	e.Raw(make([]byte, 20))
	// [in] unsigned32 max_towers.
	e.Uint32(maxTowers)
	out, err := c.Call(ctx, opEptMap, e.Bytes())
	if err != nil {
		return 0, fmt.Errorf("dcerpc: ept_map: %w", err)
	}
	return parseEptMap(out, iface)
}

// parseEptMap reads the [out] parameters of ept_map and returns the first
// ncacn_ip_tcp port for iface.
func parseEptMap(out []byte, iface SyntaxID) (int, error) {
	d := ndr.NewDecoder(out)
	d.Raw(20) // entry_handle
	numTowers := d.Uint32()
	// [out, ptr, size_is(max_towers), length_is(*num_towers)] twr_p_t towers[]
	maxCount := d.Uint32()
	offset := d.Uint32()
	actual := d.Count(4)
	if d.Err() == nil && (uint64(offset)+uint64(actual) > uint64(maxCount) || actual != int(numTowers) || actual > maxTowers) {
		d.Fail("ept_map towers: max %d offset %d actual %d num_towers %d", maxCount, offset, actual, numTowers)
	}
	var towers [][]byte
	for i := 0; i < actual && d.Err() == nil; i++ {
		d.Pointer(func(d *ndr.Decoder) {
			n := d.Count(1)
			l := d.Uint32()
			if d.Err() == nil && int(l) != n {
				d.Fail("tower_length %d, conformance %d", l, n)
			}
			towers = append(towers, d.Raw(n))
		})
	}
	d.Flush()
	status := d.Uint32()
	if err := d.Err(); err != nil {
		return 0, fmt.Errorf("dcerpc: ept_map response: %w", err)
	}
	if status != 0 {
		// EPT_S_NOT_REGISTERED (0x16c9a0d6) and the like.
		return 0, fmt.Errorf("dcerpc: ept_map: status 0x%08x (endpoint not registered)", status)
	}
	for _, t := range towers {
		port, err := parseTower(t, iface)
		if err != nil {
			return 0, err
		}
		if port > 0 {
			return port, nil
		}
	}
	return 0, fmt.Errorf("dcerpc: ept_map: no ncacn_ip_tcp endpoint among %d towers", len(towers))
}

// JoinPort is net.JoinHostPort with a numeric port.
func JoinPort(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }
