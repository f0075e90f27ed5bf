package fbup

/*
#include <stdint.h>
#include <stddef.h>
*/
import "C"

import (
	"errors"
	"io"
	"runtime/cgo"
	"unsafe"
)

// The callbacks libfbup calls: user_data carries a cgo.Handle of the Go value, never
// a Go pointer. Each is called on the thread that called into libfbup, and none lets
// a panic unwind into C (the header forbids it): a panic is recovered, the call is
// cancelled, and the panic is raised again on the Go side once the call has returned.

//export fbupGoProgress
func fbupGoProgress(userData unsafe.Pointer, done, total C.uint64_t) (stop C.int32_t) {
	defer func() {
		if r := recover(); r != nil {
			current().recovered(r, false)
			stop = 1
		}
	}()
	fn := cgo.Handle(uintptr(userData)).Value().(func(done, total int64))
	fn(int64(done), int64(total))
	return 0
}

//export fbupGoLog
func fbupGoLog(userData unsafe.Pointer, level C.int32_t, line *C.char) {
	defer func() {
		if r := recover(); r != nil {
			current().recovered(r, true)
		}
	}()
	fn := cgo.Handle(uintptr(userData)).Value().(func(LogLevel, string))
	fn(LogLevel(level), C.GoString(line))
}

// fbupGoToken writes the new token, NUL-terminated, into buf; non-zero when there is
// none (the function failed, returned "", or the token does not fit).
//
//export fbupGoToken
func fbupGoToken(userData unsafe.Pointer, buf *C.char, size C.size_t) (failed C.int32_t) {
	defer func() {
		if r := recover(); r != nil {
			current().recovered(r, false)
			failed = 1
		}
	}()
	fn := cgo.Handle(uintptr(userData)).Value().(func() (string, error))
	token, err := fn()
	if err != nil || token == "" || len(token)+1 > int(size) {
		return 1
	}
	out := unsafe.Slice((*byte)(unsafe.Pointer(buf)), int(size))
	copy(out, token)
	out[len(token)] = 0
	return 0
}

// fbupGoRead fills buf from the io.ReaderAt at offset: the bytes read, 0 at the end,
// -1 for an error (kept, so that the call's error wraps it).
//
//export fbupGoRead
func fbupGoRead(userData unsafe.Pointer, offset C.uint64_t, buf *C.uint8_t, size C.size_t) (n C.int64_t) {
	defer func() {
		if r := recover(); r != nil {
			current().recovered(r, false)
			n = -1
		}
	}()
	r := cgo.Handle(uintptr(userData)).Value().(io.ReaderAt)
	out := unsafe.Slice((*byte)(unsafe.Pointer(buf)), int(size))
	got, err := r.ReadAt(out, int64(offset))
	if err != nil && !errors.Is(err, io.EOF) {
		current().readFailed(err)
		return -1
	}
	return C.int64_t(got)
}
