package fbup

/*
#cgo pkg-config: fbup
#include <stdint.h>
#include <stdlib.h>
#include <fbup.h>

extern int64_t fbupGoRead(void *user_data, uint64_t offset, uint8_t *buf, size_t len);

static fbup_status fbup_go_client_create_reader(const fbup_client *c, const char *name,
		const char *type, uint64_t length, uintptr_t handle, const fbup_canceller *k,
		fbup_session **out) {
	return fbup_client_create_session_reader(c, name, type, length, fbupGoRead,
		(void *)handle, k, out);
}
*/
import "C"

import (
	"context"
	"io"
	"runtime"
	"runtime/cgo"
	"sync"
	"unsafe"
)

// Client holds what sessions share: the config resolved once and one pool of
// connections to Graph, so that many files cost round trips, not TLS handshakes. Make
// one with NewClient, open any number of sessions from it, from any goroutines at
// once, and Close it when done (sessions made from it stay usable until their own
// Close). A token refreshed by one session is the token the others send next; a cut,
// a stall or a cancel of one session never disturbs another's connection.
type Client struct {
	mu     sync.Mutex
	c      *C.fbup_client
	closed bool
	// handles are the config's Go functions (log, token refresh), which libfbup calls
	// for every session of the client: deleted once the client and all its sessions
	// are closed.
	handles []cgo.Handle
	live    int
}

// NewClient checks cfg and makes a client of it; no request is made.
func NewClient(cfg Config) (*Client, error) {
	cc, err := newCConfig(cfg)
	if err != nil {
		return nil, err
	}
	defer cc.free()
	var c *C.fbup_client
	if st := C.fbup_client_new(cc.c, &c); st != C.FBUP_OK {
		msg := goWords(C.GoString(C.fbup_client_errmsg(c)))
		C.fbup_client_free(c)
		deleteHandles(cc.handles)
		return nil, &Error{Status: Status(st), Message: msg}
	}
	client := &Client{c: c, handles: cc.handles}
	runtime.SetFinalizer(client, (*Client).Close)
	return client, nil
}

// Close releases the client; calling it twice is harmless.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		C.fbup_client_free(c.c)
		c.c = nil
		c.closed = true
		runtime.SetFinalizer(c, nil)
		c.releaseLocked()
	}
	return nil
}

// releaseLocked deletes the handles once nothing can call them any more.
func (c *Client) releaseLocked() {
	if c.closed && c.live == 0 {
		deleteHandles(c.handles)
		c.handles = nil
	}
}

// sessionClosed is told by a session of the client when it closes.
func (c *Client) sessionClosed() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.live--
	c.releaseLocked()
}

// open runs one of the fbup_client_* calls under ctx: cancelling ctx cancels the call
// itself (through a canceller), which returns within a second.
func (c *Client) open(ctx context.Context, handles []cgo.Handle,
	call func(c *C.fbup_client, k *C.fbup_canceller, out **C.fbup_session) C.fbup_status) (*Session, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		deleteHandles(handles)
		return nil, &Error{Status: ErrState, Message: "the client is closed"}
	}
	c.live++
	raw := c.c
	c.mu.Unlock()
	made := false
	defer func() {
		if !made {
			c.sessionClosed()
		}
	}()
	sess, err := opening(ctx, handles, c, func(k *C.fbup_canceller, out **C.fbup_session) C.fbup_status {
		return call(raw, k, out)
	})
	made = err == nil
	return sess, err
}

// Create checks the file and creates a Graph upload session for it over the client's
// connections. Cancelling ctx cancels the call within a second.
func (c *Client) Create(ctx context.Context, path string) (*Session, error) {
	s, err := c.open(ctx, nil, func(cl *C.fbup_client, k *C.fbup_canceller, out **C.fbup_session) C.fbup_status {
		cpath := C.CString(path)
		defer C.free(unsafe.Pointer(cpath))
		return C.fbup_client_create_session(cl, cpath, k, out)
	})
	return s, withPath(err, path)
}

// Resume re-opens a session saved earlier for the same file over the client's
// connections, and asks Graph how many bytes it holds.
func (c *Client) Resume(ctx context.Context, path, sessionID string) (*Session, error) {
	s, err := c.open(ctx, nil, func(cl *C.fbup_client, k *C.fbup_canceller, out **C.fbup_session) C.fbup_status {
		cpath, cid := C.CString(path), C.CString(sessionID)
		defer C.free(unsafe.Pointer(cpath))
		defer C.free(unsafe.Pointer(cid))
		return C.fbup_client_resume_session(cl, cpath, cid, k, out)
	})
	return s, withPath(err, path)
}

// CreateReader creates a session for size bytes read through r, told to Graph as
// fileName of fileType ("" takes the client's Config.FileName or FileType).
func (c *Client) CreateReader(ctx context.Context, r io.ReaderAt, size int64, fileName, fileType string) (*Session, error) {
	if size < 0 {
		return nil, &Error{Status: ErrArgument, Message: "size is negative"}
	}
	h := cgo.NewHandle(r)
	return c.open(ctx, []cgo.Handle{h}, func(cl *C.fbup_client, k *C.fbup_canceller, out **C.fbup_session) C.fbup_status {
		var name, typ *C.char
		if fileName != "" {
			name = C.CString(fileName)
			defer C.free(unsafe.Pointer(name))
		}
		if fileType != "" {
			typ = C.CString(fileType)
			defer C.free(unsafe.Pointer(typ))
		}
		return C.fbup_go_client_create_reader(cl, name, typ, C.uint64_t(size), C.uintptr_t(h), k, out)
	})
}
