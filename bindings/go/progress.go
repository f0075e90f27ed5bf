package fbup

/*
#include <stdint.h>
*/
import "C"

import (
	"runtime/cgo"
	"unsafe"
)

// fbupGoProgress is libfbup's progress callback: user_data carries a cgo.Handle of
// the Go function, never a Go pointer.
//
//export fbupGoProgress
func fbupGoProgress(userData unsafe.Pointer, done, total C.uint64_t) C.int32_t {
	fn := cgo.Handle(uintptr(userData)).Value().(func(done, total uint64))
	fn(uint64(done), uint64(total))
	return 0
}

// fbupGoLog is libfbup's log callback: user_data carries a cgo.Handle of the
// Config's Log function.
//
//export fbupGoLog
func fbupGoLog(userData unsafe.Pointer, level C.int32_t, line *C.char) {
	fn := cgo.Handle(uintptr(userData)).Value().(func(LogLevel, string))
	fn(LogLevel(level), C.GoString(line))
}
