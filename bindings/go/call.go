package fbup

/*
#include <pthread.h>
#include <stdint.h>

// The thread the caller runs on: a C call and the Go callbacks it makes share it.
static uintptr_t fbup_go_thread(void) { return (uintptr_t)pthread_self(); }
*/
import "C"

import (
	"context"
	"runtime"
	"sync"
)

// call is one call into libfbup: what cancels it, and what its Go callbacks left
// behind (a panic, the reader's error). The callbacks find it by the thread they run
// on, which is the thread of the call: cgo keeps a goroutine on its thread for the
// whole of a C call, callbacks included.
type call struct {
	// cancelFn cancels the C call (fbup_cancel, fbup_canceller_cancel).
	cancelFn func()

	mu        sync.Mutex
	done      bool
	cancelled bool
	panicked  bool
	panicVal  interface{}
	readErr   error
}

// calls maps a thread running a C call to its call.
var calls sync.Map

// current is the call running on this thread, nil when none (never in practice: every
// call into libfbup that can call back is made through call.run).
func current() *call {
	v, ok := calls.Load(C.fbup_go_thread())
	if !ok {
		return nil
	}
	return v.(*call)
}

// cancel cancels the C call unless it has returned.
func (c *call) cancel() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done || c.cancelFn == nil {
		return
	}
	c.cancelled = true
	c.cancelFn()
}

// recovered keeps the first panic of a callback, to raise again once the call has
// returned (call.repanic). A callback that can end the call by its return value
// (progress, read, token) does so; for one that cannot (log), cancel asks for a
// cancel, made from another goroutine: libfbup may be inside the call's own
// bookkeeping here.
func (c *call) recovered(r interface{}, cancel bool) {
	if c == nil {
		return
	}
	c.mu.Lock()
	if !c.panicked {
		c.panicked, c.panicVal = true, r
	}
	c.mu.Unlock()
	if cancel {
		go c.cancel()
	}
}

// readFailed keeps the first error the reader returned.
func (c *call) readFailed(err error) {
	if c == nil {
		return
	}
	c.mu.Lock()
	if c.readErr == nil {
		c.readErr = err
	}
	c.mu.Unlock()
}

// run runs f, the C call, on this thread with c findable by the callbacks; ctx ending
// while it runs cancels it. When run returns, nothing of it touches the call's
// objects any more.
func (c *call) run(ctx context.Context, f func()) {
	stop := make(chan struct{})
	var watcher sync.WaitGroup
	if ctx.Done() != nil {
		watcher.Add(1)
		go func() {
			defer watcher.Done()
			select {
			case <-ctx.Done():
				c.cancel()
			case <-stop:
			}
		}()
	}
	runtime.LockOSThread()
	thread := C.fbup_go_thread()
	calls.Store(thread, c)
	f()
	calls.Delete(thread)
	runtime.UnlockOSThread()
	c.mu.Lock()
	c.done = true
	c.mu.Unlock()
	close(stop)
	watcher.Wait()
}

// repanic raises again, on the caller's goroutine, a panic a callback of the call
// raised inside libfbup (where it could not unwind).
func (c *call) repanic() {
	if c.panicked {
		panic(c.panicVal)
	}
}
