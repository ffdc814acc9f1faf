package engine

import "encoding/binary"

func leUint64(b []byte) uint64 { return binary.LittleEndian.Uint64(b) }

// skipEntry returns b after its first complete entry.
func skipEntry(b []byte) []byte {
	switch b[0] {
	case KindNil:
		return b[1:]
	case KindInt, KindDouble, KindBool:
		return b[9:]
	case KindArray, KindSet, KindPush, KindMap:
		n := int(leUint64(b[1:]))
		if b[0] == KindMap {
			n *= 2
		}
		b = b[9:]
		for i := 0; i < n; i++ {
			b = skipEntry(b)
		}
		return b
	default:
		return b[9+int(leUint64(b[1:])):]
	}
}
