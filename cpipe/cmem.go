package main

// The only file that converts between C memory and Go slices.

/*
#include <stdlib.h>
#include <string.h>
*/
import "C"

import (
	"unsafe"
)

// cGrow is an engine.GrowFunc that keeps tapes in C memory, so a finished
// tape is handed to the bridge without a copy.
func cGrow(old []byte, newCap int) []byte {
	var p unsafe.Pointer
	if cap(old) > 0 {
		p = unsafe.Pointer(unsafe.SliceData(old))
	}
	np := C.realloc(p, C.size_t(newCap))
	if np == nil {
		panic("cpipe: out of memory growing a reply tape")
	}
	return unsafe.Slice((*byte)(np), newCap)[:len(old)]
}

// handOver gives a cGrow-allocated tape to C.
func handOver(b []byte) (*C.char, C.int64_t) {
	if cap(b) == 0 {
		return nil, 0
	}
	return (*C.char)(unsafe.Pointer(unsafe.SliceData(b))), C.int64_t(len(b))
}

// borrowBytes views C memory for the duration of a call, without a copy.
func borrowBytes(p *C.char, n int64) []byte {
	if p == nil || n <= 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(p)), n)
}

func goBytes(p *C.char, n int64) []byte {
	if p == nil || n <= 0 {
		return nil
	}
	return append([]byte(nil), borrowBytes(p, n)...)
}

func goString(p *C.char, n int) string {
	if p == nil || n <= 0 {
		return ""
	}
	return C.GoStringN(p, C.int(n))
}

func writeCString(dst *C.char, capacity int, s string) {
	if len(s) > capacity-1 {
		s = s[:capacity-1]
	}
	b := unsafe.Slice((*byte)(unsafe.Pointer(dst)), capacity)
	copy(b, s)
	b[len(s)] = 0
}

// freeC releases a cGrow-allocated buffer that was never handed over.
func freeC(b []byte) {
	if cap(b) > 0 {
		C.free(unsafe.Pointer(unsafe.SliceData(b)))
	}
}
