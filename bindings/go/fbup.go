// Package fbup uploads files to the Meta Graph API through its Resumable Upload API,
// resuming on its own when the network breaks. It wraps libfbup's C API with cgo;
// libfbup is found through pkg-config (`fbup`).
//
//	handle, err := fbup.Upload(ctx, fbup.Config{AppID: "1234567890", AccessToken: token},
//		"video.mp4", func(done, total uint64) { fmt.Println(done, total) })
package fbup

/*
#cgo pkg-config: fbup
#include <stdint.h>
#include <stdlib.h>
#include <fbup.h>

extern int32_t fbupGoProgress(void *user_data, uint64_t done, uint64_t total);
extern void fbupGoLog(void *user_data, int32_t level, char *line);

static void fbup_go_log_line(void *user_data, int32_t level, const char *line) {
	fbupGoLog(user_data, level, (char *)line);
}

// Points the config's trace at the Go function behind handle (a cgo.Handle).
static void fbup_go_set_log(fbup_config *c, uintptr_t handle, int32_t level) {
	c->log_fn = fbup_go_log_line;
	c->log_user_data = (void *)handle;
	c->log_level = level;
}

// Passes the Go handle as an integer, so that no Go pointer is kept by C.
static fbup_status fbup_go_upload(fbup_session *s, uintptr_t handle) {
	if (handle == 0) return fbup_upload(s, NULL, NULL);
	return fbup_upload(s, fbupGoProgress, (void *)handle);
}
*/
import "C"

import (
	"context"
	"fmt"
	"runtime"
	"runtime/cgo"
	"sync"
	"time"
	"unsafe"
)

// Status is libfbup's fbup_status.
type Status int32

// The statuses; the values are libfbup's and never change.
const (
	OK           Status = C.FBUP_OK
	ErrArgument  Status = C.FBUP_E_ARGUMENT
	ErrFile      Status = C.FBUP_E_FILE
	ErrNetwork   Status = C.FBUP_E_NETWORK
	ErrTimeout   Status = C.FBUP_E_TIMEOUT
	ErrAuth      Status = C.FBUP_E_AUTH
	ErrGraph     Status = C.FBUP_E_GRAPH
	ErrThrottled Status = C.FBUP_E_THROTTLED
	ErrProtocol  Status = C.FBUP_E_PROTOCOL
	ErrCancelled Status = C.FBUP_E_CANCELLED
	ErrState     Status = C.FBUP_E_STATE
	ErrInternal  Status = C.FBUP_E_INTERNAL
	// ErrHandleLost: every byte reached Graph but the handle was lost; upload again.
	ErrHandleLost Status = C.FBUP_E_HANDLE_LOST
)

// String is libfbup's description of the status.
func (s Status) String() string { return C.GoString(C.fbup_status_str(C.fbup_status(s))) }

// Error is a failed call: use errors.As to reach its fields.
type Error struct {
	Status       Status
	HTTPStatus   int
	GraphCode    int64
	GraphSubcode int64
	GraphType    string
	FbtraceID    string
	Message      string
}

func (e *Error) Error() string { return fmt.Sprintf("fbup: %s: %s", e.Status, e.Message) }

// LogLevel says how much of the trace a Config's Log function receives.
type LogLevel int32

// The trace's levels; the zero value takes libfbup's default, LogInfo.
const (
	LogError   LogLevel = 1
	LogWarning LogLevel = 2
	LogInfo    LogLevel = 3
	LogDebug   LogLevel = 4
)

// Config sets up an upload; empty or zero fields take libfbup's defaults.
type Config struct {
	AppID          string
	AccessToken    string
	GraphURL       string
	APIVersion     string
	FileName       string
	FileType       string
	StateDir       string
	StallTimeoutMs uint32
	MaxAttempts    uint32
	RetryBaseMs    uint32
	// Log receives the trace: each request to Graph, its answer and each decision,
	// one line a call, on the goroutine that called into fbup. nil: no trace. The
	// access token never appears in a line.
	Log func(level LogLevel, line string)
	// LogLevel is the least important level Log receives (LogInfo when zero).
	LogLevel LogLevel
}

// Info holds a session's transfer figures (Session.Info).
type Info struct {
	// BytesConfirmed is Graph's offset as last known.
	BytesConfirmed uint64
	// BytesSent counts body bytes handed to the network, re-sent ones included.
	BytesSent uint64
	// Requests counts HTTP requests made.
	Requests uint64
	// Retries counts failed attempts that were tried again.
	Retries uint64
	// Resumes counts the times the upload went on from an offset Graph reported.
	Resumes uint64
	// Wait is the time spent waiting before retries.
	Wait time.Duration
	// Elapsed is the time spent inside Upload.
	Elapsed time.Duration
}

// Version is libfbup's version.
func Version() string { return C.GoString(C.fbup_version()) }

// cConfig is a C config and the C strings it points to, freed by free.
type cConfig struct {
	c       C.fbup_config
	strings []*C.char
	// log is the handle of the Log function; the session it is given to keeps it.
	log cgo.Handle
}

func newCConfig(cfg Config) *cConfig {
	cc := &cConfig{}
	C.fbup_config_init_sized(&cc.c, C.size_t(unsafe.Sizeof(cc.c)))
	str := func(s string) *C.char {
		if s == "" {
			return nil
		}
		p := C.CString(s)
		cc.strings = append(cc.strings, p)
		return p
	}
	cc.c.app_id = str(cfg.AppID)
	cc.c.access_token = str(cfg.AccessToken)
	cc.c.graph_url = str(cfg.GraphURL)
	cc.c.api_version = str(cfg.APIVersion)
	cc.c.file_name = str(cfg.FileName)
	cc.c.file_type = str(cfg.FileType)
	cc.c.state_dir = str(cfg.StateDir)
	if cfg.StallTimeoutMs != 0 {
		cc.c.stall_timeout_ms = C.uint32_t(cfg.StallTimeoutMs)
	}
	if cfg.MaxAttempts != 0 {
		cc.c.max_attempts = C.uint32_t(cfg.MaxAttempts)
	}
	if cfg.RetryBaseMs != 0 {
		cc.c.retry_base_ms = C.uint32_t(cfg.RetryBaseMs)
	}
	if cfg.Log != nil {
		cc.log = cgo.NewHandle(cfg.Log)
		C.fbup_go_set_log(&cc.c, C.uintptr_t(cc.log), C.int32_t(cfg.LogLevel))
	} else {
		cc.c.log_level = C.int32_t(cfg.LogLevel)
	}
	return cc
}

func (cc *cConfig) free() {
	for _, p := range cc.strings {
		C.free(unsafe.Pointer(p))
	}
}

// Session is one upload session. Close it when done; a finalizer closes a forgotten one.
type Session struct {
	mu sync.Mutex
	// life guards s against Close while Info reads it (Upload holds mu throughout).
	life sync.RWMutex
	s    *C.fbup_session
	// log is the handle of the Log function libfbup calls for this session.
	log cgo.Handle
}

func errorOf(s *C.fbup_session, st C.fbup_status) error {
	if st == C.FBUP_OK {
		return nil
	}
	var info C.fbup_error
	if s != nil && C.fbup_error_info(s, &info) == C.FBUP_OK && info.status == st {
		return &Error{
			Status:       Status(st),
			HTTPStatus:   int(info.http_status),
			GraphCode:    int64(info.graph_code),
			GraphSubcode: int64(info.graph_subcode),
			GraphType:    C.GoString(info.graph_type),
			FbtraceID:    C.GoString(info.fbtrace_id),
			Message:      C.GoString(info.message),
		}
	}
	return &Error{Status: Status(st), Message: Status(st).String()}
}

func adopt(s *C.fbup_session, st C.fbup_status, cc *cConfig) (*Session, error) {
	if err := errorOf(s, st); err != nil {
		C.fbup_free(s)
		if cc.log != 0 {
			cc.log.Delete()
		}
		return nil, err
	}
	sess := &Session{s: s, log: cc.log}
	runtime.SetFinalizer(sess, (*Session).Close)
	return sess, nil
}

// Create checks the file and creates a Graph upload session for it (step 1).
func Create(cfg Config, path string) (*Session, error) {
	cc := newCConfig(cfg)
	defer cc.free()
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var s *C.fbup_session
	st := C.fbup_create_session(&cc.c, cpath, &s)
	return adopt(s, st, cc)
}

// Resume re-opens a session saved earlier (its ID, "?sig=" part included) for the
// same file, and asks Graph how many bytes it holds.
func Resume(cfg Config, path, sessionID string) (*Session, error) {
	cc := newCConfig(cfg)
	defer cc.free()
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	cid := C.CString(sessionID)
	defer C.free(unsafe.Pointer(cid))
	var s *C.fbup_session
	st := C.fbup_resume_session(&cc.c, cpath, cid, &s)
	return adopt(s, st, cc)
}

// ID is the session id, "?sig=" part included: save it to resume later.
func (s *Session) ID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.s == nil {
		return ""
	}
	return C.GoString(C.fbup_session_id(s.s))
}

// Upload sends the file from Graph's offset to the end, resuming on its own, and
// returns Graph's handle (it may hold "\n"). Cancelling ctx cancels the upload
// (ErrCancelled); the session stays resumable. onProgress may be nil.
func (s *Session) Upload(ctx context.Context, onProgress func(done, total uint64)) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.s == nil {
		return "", &Error{Status: ErrState, Message: "the session is closed"}
	}
	var handle C.uintptr_t
	if onProgress != nil {
		h := cgo.NewHandle(onProgress)
		defer h.Delete()
		handle = C.uintptr_t(h)
	}
	// Cancelling ctx cancels the upload; the watcher is gone before Upload returns,
	// so it never touches a session the caller may free next.
	done := make(chan struct{})
	var watcher sync.WaitGroup
	defer watcher.Wait()
	defer close(done)
	sess := s.s
	watcher.Add(1)
	go func() {
		defer watcher.Done()
		select {
		case <-ctx.Done():
			C.fbup_cancel(sess)
		case <-done:
		}
	}()
	st := C.fbup_go_upload(sess, handle)
	if err := errorOf(sess, st); err != nil {
		return "", err
	}
	return C.GoString(C.fbup_file_handle(sess)), nil
}

// Offset asks Graph how many bytes it holds (step 3).
func (s *Session) Offset() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.s == nil {
		return 0, &Error{Status: ErrState, Message: "the session is closed"}
	}
	var off C.uint64_t
	if err := errorOf(s.s, C.fbup_get_offset(s.s, &off)); err != nil {
		return 0, err
	}
	return uint64(off), nil
}

// Close releases the session; calling it twice is harmless.
func (s *Session) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.s != nil {
		s.life.Lock()
		defer s.life.Unlock()
		C.fbup_free(s.s)
		s.s = nil
		if s.log != 0 {
			s.log.Delete()
			s.log = 0
		}
		runtime.SetFinalizer(s, nil)
	}
	return nil
}

// Info returns the session's transfer figures so far; it may be called while
// Upload runs on another goroutine.
func (s *Session) Info() (Info, error) {
	// Not under s.mu: Upload holds it for the whole upload, and fbup_get_info is
	// safe beside a running upload.
	s.life.RLock()
	defer s.life.RUnlock()
	sess := s.s
	if sess == nil {
		return Info{}, &Error{Status: ErrState, Message: "the session is closed"}
	}
	var out C.fbup_info
	out.struct_size = C.uint32_t(unsafe.Sizeof(out))
	if err := errorOf(sess, C.fbup_get_info(sess, &out)); err != nil {
		return Info{}, err
	}
	return Info{
		BytesConfirmed: uint64(out.bytes_confirmed),
		BytesSent:      uint64(out.bytes_sent),
		Requests:       uint64(out.requests),
		Retries:        uint64(out.retries),
		Resumes:        uint64(out.resumes),
		Wait:           time.Duration(out.wait_ms) * time.Millisecond,
		Elapsed:        time.Duration(out.elapsed_ms) * time.Millisecond,
	}, nil
}

// Upload creates a session for path, uploads the file and returns Graph's handle.
func Upload(ctx context.Context, cfg Config, path string, onProgress func(done, total uint64)) (string, error) {
	s, err := Create(cfg, path)
	if err != nil {
		return "", err
	}
	defer s.Close()
	return s.Upload(ctx, onProgress)
}
