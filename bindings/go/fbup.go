// Package fbup uploads files to the Meta Graph API through its Resumable Upload API,
// resuming on its own when the network breaks. It wraps libfbup's C API with cgo;
// libfbup is found through pkg-config (`fbup`).
//
//	handle, err := fbup.Upload(ctx, fbup.Config{AppID: "1234567890", AccessToken: token},
//		"video.mp4", func(done, total int64) { fmt.Println(done, total) })
//
// The context given to a call bounds that call and nothing after it: Create, Resume,
// CreateReader, ResumeReader, Upload and Offset return within a second when it is
// cancelled or its deadline passes (libfbup's own call is cancelled, not left
// running), with an error that errors.Is recognises as context.Canceled or
// context.DeadlineExceeded. A session made under a deadline is free of it afterwards.
//
// A panic in a function of yours that libfbup calls (progress, Log, TokenRefresh, an
// io.ReaderAt) never unwinds through C: the call is cancelled and the panic is raised
// again on your goroutine once the call has returned; the session stays usable.
package fbup

/*
#cgo pkg-config: fbup
#include <stdint.h>
#include <stdlib.h>
#include <fbup.h>

extern int32_t fbupGoProgress(void *user_data, uint64_t done, uint64_t total);
extern void fbupGoLog(void *user_data, int32_t level, char *line);
extern int32_t fbupGoToken(void *user_data, char *buf, size_t len);
extern int64_t fbupGoRead(void *user_data, uint64_t offset, uint8_t *buf, size_t len);

static void fbup_go_log_line(void *user_data, int32_t level, const char *line) {
	fbupGoLog(user_data, level, (char *)line);
}

// The Go functions behind cgo.Handles, passed as integers so that C keeps no Go pointer.
static void fbup_go_set_log(fbup_config *c, uintptr_t handle) {
	c->log_fn = fbup_go_log_line;
	c->log_user_data = (void *)handle;
}

static void fbup_go_set_token(fbup_config *c, uintptr_t handle) {
	c->token_fn = fbupGoToken;
	c->token_user_data = (void *)handle;
}

static fbup_status fbup_go_upload(fbup_session *s, uintptr_t handle) {
	if (handle == 0) return fbup_upload(s, NULL, NULL);
	return fbup_upload(s, fbupGoProgress, (void *)handle);
}

static fbup_status fbup_go_create_reader(const fbup_config *c, uint64_t length,
		uintptr_t handle, fbup_session **out) {
	return fbup_create_session_reader(c, length, fbupGoRead, (void *)handle, out);
}

static fbup_status fbup_go_resume_reader(const fbup_config *c, uint64_t length,
		uintptr_t handle, const char *id, fbup_session **out) {
	return fbup_resume_session_reader(c, length, fbupGoRead, (void *)handle, id, out);
}
*/
import "C"

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"runtime"
	"runtime/cgo"
	"sync"
	"time"
	"unsafe"
)

// Status is libfbup's fbup_status. Each non-OK status is itself an error value, so
// that errors.Is(err, fbup.ErrCancelled) holds for an *Error with that status.
type Status int32

// The statuses; the values are libfbup's (the C constant named beside each) and
// never change.
const (
	OK           Status = 0  // FBUP_OK
	ErrArgument  Status = 1  // FBUP_E_ARGUMENT
	ErrFile      Status = 2  // FBUP_E_FILE
	ErrNetwork   Status = 3  // FBUP_E_NETWORK
	ErrTimeout   Status = 4  // FBUP_E_TIMEOUT
	ErrAuth      Status = 5  // FBUP_E_AUTH
	ErrGraph     Status = 6  // FBUP_E_GRAPH
	ErrThrottled Status = 7  // FBUP_E_THROTTLED
	ErrProtocol  Status = 8  // FBUP_E_PROTOCOL
	ErrCancelled Status = 9  // FBUP_E_CANCELLED
	ErrState     Status = 10 // FBUP_E_STATE
	ErrInternal  Status = 11 // FBUP_E_INTERNAL
	// ErrHandleLost: every byte reached Graph but the handle was lost; upload again.
	ErrHandleLost Status = 12 // FBUP_E_HANDLE_LOST
)

// Each value above is the header's: a constant index other than 0 does not compile.
var (
	_ = [1]struct{}{}[OK-C.FBUP_OK]
	_ = [1]struct{}{}[ErrArgument-C.FBUP_E_ARGUMENT]
	_ = [1]struct{}{}[ErrFile-C.FBUP_E_FILE]
	_ = [1]struct{}{}[ErrNetwork-C.FBUP_E_NETWORK]
	_ = [1]struct{}{}[ErrTimeout-C.FBUP_E_TIMEOUT]
	_ = [1]struct{}{}[ErrAuth-C.FBUP_E_AUTH]
	_ = [1]struct{}{}[ErrGraph-C.FBUP_E_GRAPH]
	_ = [1]struct{}{}[ErrThrottled-C.FBUP_E_THROTTLED]
	_ = [1]struct{}{}[ErrProtocol-C.FBUP_E_PROTOCOL]
	_ = [1]struct{}{}[ErrCancelled-C.FBUP_E_CANCELLED]
	_ = [1]struct{}{}[ErrState-C.FBUP_E_STATE]
	_ = [1]struct{}{}[ErrInternal-C.FBUP_E_INTERNAL]
	_ = [1]struct{}{}[ErrHandleLost-C.FBUP_E_HANDLE_LOST]
)

// String is libfbup's description of the status.
func (s Status) String() string { return C.GoString(C.fbup_status_str(C.fbup_status(s))) }

// Name is the status's constant name in C, e.g. "FBUP_E_AUTH".
func (s Status) Name() string { return C.GoString(C.fbup_status_name(C.fbup_status(s))) }

// Error makes a status an error value, to compare with errors.Is.
func (s Status) Error() string { return "fbup: " + s.String() }

// Error is a failed call: use errors.As to reach its fields, errors.Is to compare its
// status (errors.Is(err, fbup.ErrAuth)) or the context error that ended it.
type Error struct {
	Status       Status
	HTTPStatus   int
	GraphCode    int64
	GraphSubcode int64
	GraphType    string
	FbtraceID    string
	Message      string
	// SessionID is the session the failure leaves resumable ("" when none was made):
	// pass it to Resume to go on.
	SessionID string
	// cause is the context's error when the context ended the call, else what the
	// reader returned or the file's *fs.PathError.
	cause error
}

func (e *Error) Error() string { return fmt.Sprintf("fbup: %s: %s", e.Status.Name(), e.Message) }

// Is reports whether target is this error's Status.
func (e *Error) Is(target error) bool {
	st, ok := target.(Status)
	return ok && st == e.Status
}

// Unwrap returns the context's error when the context ended the call; else, for
// ErrFile, the error your io.ReaderAt returned or the file's *fs.PathError (so that
// errors.Is(err, fs.ErrNotExist) holds for a missing file).
func (e *Error) Unwrap() error { return e.cause }

// cNames are libfbup's C field names and words, with the Go names that replace them
// in messages.
var cNames = map[string]string{
	"app_id": "AppID", "access_token": "AccessToken", "graph_url": "GraphURL",
	"api_version": "APIVersion", "file_name": "FileName", "file_type": "FileType",
	"state_dir": "StateDir", "ca_file": "CAFile", "send_buffer_bytes": "SendBuffer",
	"max_attempts": "MaxAttempts", "max_retry_ms": "MaxRetry",
	"connect_timeout_ms": "ConnectTimeout", "stall_timeout_ms": "StallTimeout",
	"response_timeout_ms": "ResponseTimeout", "retry_base_ms": "RetryBase",
	"retry_cap_ms": "RetryCap", "allow_insecure_http": "AllowInsecureHTTP",
	"max_send_rate": "MaxSendRate", "max_request_bytes": "MaxRequest",
	"log_level": "LogLevel", "token_fn": "TokenRefresh", "read_at": "the reader",
	"is NULL": "is empty",
}

var cWords = regexp.MustCompile(`\b(app_id|access_token|graph_url|api_version|file_name|file_type|state_dir|ca_file|send_buffer_bytes|max_attempts|max_retry_ms|connect_timeout_ms|stall_timeout_ms|response_timeout_ms|retry_base_ms|retry_cap_ms|allow_insecure_http|max_send_rate|max_request_bytes|log_level|token_fn|read_at)\b|is NULL|the read callback returned -?[0-9]+`)

// goWords says a libfbup message in this package's words.
func goWords(msg string) string {
	return cWords.ReplaceAllStringFunc(msg, func(w string) string {
		if name, ok := cNames[w]; ok {
			return name
		}
		return "the io.ReaderAt failed" // the read callback's return value
	})
}

// LogLevel says how much of the trace a Config's Log function receives.
type LogLevel int32

// The trace's levels; the zero value takes libfbup's default, LogInfo.
const (
	LogError   LogLevel = 1
	LogWarning LogLevel = 2
	LogInfo    LogLevel = 3
	LogDebug   LogLevel = 4
)

// String is the level's name: "error", "warning", "info" or "debug".
func (l LogLevel) String() string {
	switch l {
	case LogError:
		return "error"
	case LogWarning:
		return "warning"
	case LogInfo:
		return "info"
	case LogDebug:
		return "debug"
	}
	return fmt.Sprintf("LogLevel(%d)", int32(l))
}

// Config sets up an upload: every field of libfbup's fbup_config, under Go names.
// Zero values take libfbup's defaults.
type Config struct {
	// AppID is the Meta app id (required).
	AppID string
	// AccessToken is the user access token (required); sent only in a header.
	AccessToken string
	// GraphURL is Graph's base URL; "" means https://graph.facebook.com.
	GraphURL string
	// APIVersion is the Graph API version; "" means the one fbup is tested against.
	APIVersion string
	// FileName is the name Graph is told; "" means the file's base name (required
	// for a reader).
	FileName string
	// FileType is the MIME type; "" means from the extension (required for a reader).
	FileType string
	// ConnectTimeout bounds a TCP connect (default 30 s).
	ConnectTimeout time.Duration
	// StallTimeout fails an attempt when no byte moves for this long (default 60 s).
	StallTimeout time.Duration
	// ResponseTimeout bounds the wait for Graph's answer after the last byte (120 s).
	ResponseTimeout time.Duration
	// MaxAttempts is the attempts in a row without progress before giving up (8).
	MaxAttempts int
	// MaxRetry is the time without progress before giving up (15 minutes).
	MaxRetry time.Duration
	// RetryBase is the first retry's longest wait, doubling each time (500 ms).
	RetryBase time.Duration
	// RetryCap is the longest wait between retries unless Graph asks for more (30 s).
	RetryCap time.Duration
	// TokenRefresh is asked for a new token when Graph refuses the current one
	// mid-upload (code 190); the same session then goes on. nil: the upload stops
	// with ErrAuth and stays resumable.
	TokenRefresh func() (string, error)
	// StateDir is the resume journal's folder; "" turns it off.
	StateDir string
	// SendBuffer is the bytes read and sent at a time (4 KiB to 64 MiB; 64 KiB).
	SendBuffer int
	// AllowInsecureHTTP accepts a plain http:// GraphURL whose host is not loopback.
	AllowInsecureHTTP bool
	// CAFile is a PEM file of root certificates trusted instead of the public ones.
	CAFile string
	// Proxy is the proxy URL, e.g. "http://proxy:3128"; "" reads HTTPS_PROXY,
	// ALL_PROXY and NO_PROXY.
	Proxy string
	// MaxSendRate caps the bytes sent per second; 0 is no cap. A Client's is shared
	// by all its sessions: together they send no faster.
	MaxSendRate int64
	// MaxRequest caps the body bytes of one upload request, for a proxy or load
	// balancer known to cut longer requests; 0 sends the rest of the file in one
	// request and bounds requests only after a cut that Graph kept none of.
	MaxRequest int64
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
	BytesConfirmed int64
	// BytesSent counts body bytes handed to the network, re-sent ones included.
	BytesSent int64
	// Requests counts HTTP requests made.
	Requests int64
	// Retries counts failed attempts that were tried again.
	Retries int64
	// Resumes counts the times the upload went on from an offset Graph reported.
	Resumes int64
	// Wait is the time spent waiting before retries.
	Wait time.Duration
	// Elapsed is the time spent inside Upload.
	Elapsed time.Duration
}

// Version is libfbup's version.
func Version() string { return C.GoString(C.fbup_version()) }

// cConfig is a C config, the C strings it points to and the handles of the Go
// functions it names. free releases the strings; the handles go to the session.
type cConfig struct {
	// c is an allocation of its own: cgo checks the whole allocation a pointer
	// argument points into, and this one holds no Go pointer.
	c       *C.fbup_config
	strings []*C.char
	handles []cgo.Handle
}

// millis is d in whole milliseconds for a uint32 field; 0 keeps the default.
func millis(name string, d time.Duration) (C.uint32_t, error) {
	if d < 0 {
		return 0, &Error{Status: ErrArgument, Message: name + " is negative"}
	}
	ms := d.Milliseconds()
	if d > 0 && ms == 0 {
		ms = 1
	}
	if ms > math.MaxUint32 {
		ms = math.MaxUint32
	}
	return C.uint32_t(ms), nil
}

// clamp32 is n, at most the largest uint32.
func clamp32(n int64) int64 {
	if n > math.MaxUint32 {
		return math.MaxUint32
	}
	return n
}

func newCConfig(cfg Config) (*cConfig, error) {
	cc := &cConfig{c: new(C.fbup_config)}
	C.fbup_config_init_sized(cc.c, C.size_t(unsafe.Sizeof(*cc.c)))
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
	cc.c.ca_file = str(cfg.CAFile)
	cc.c.proxy = str(cfg.Proxy)
	for _, f := range []struct {
		name string
		d    time.Duration
		to   *C.uint32_t
	}{
		{"ConnectTimeout", cfg.ConnectTimeout, &cc.c.connect_timeout_ms},
		{"StallTimeout", cfg.StallTimeout, &cc.c.stall_timeout_ms},
		{"ResponseTimeout", cfg.ResponseTimeout, &cc.c.response_timeout_ms},
		{"MaxRetry", cfg.MaxRetry, &cc.c.max_retry_ms},
		{"RetryBase", cfg.RetryBase, &cc.c.retry_base_ms},
		{"RetryCap", cfg.RetryCap, &cc.c.retry_cap_ms},
	} {
		ms, err := millis(f.name, f.d)
		if err != nil {
			cc.free()
			return nil, err
		}
		if ms != 0 {
			*f.to = ms
		}
	}
	if cfg.MaxAttempts < 0 || cfg.SendBuffer < 0 || cfg.MaxSendRate < 0 || cfg.MaxRequest < 0 {
		cc.free()
		return nil, &Error{Status: ErrArgument, Message: "MaxAttempts, SendBuffer, MaxSendRate and MaxRequest cannot be negative"}
	}
	if cfg.MaxAttempts != 0 {
		cc.c.max_attempts = C.uint32_t(clamp32(int64(cfg.MaxAttempts)))
	}
	if cfg.SendBuffer != 0 {
		cc.c.send_buffer_bytes = C.uint32_t(clamp32(int64(cfg.SendBuffer)))
	}
	if cfg.AllowInsecureHTTP {
		cc.c.allow_insecure_http = 1
	}
	cc.c.max_send_rate = C.uint64_t(cfg.MaxSendRate)
	cc.c.max_request_bytes = C.uint64_t(cfg.MaxRequest)
	cc.c.log_level = C.int32_t(cfg.LogLevel)
	if cfg.Log != nil {
		h := cgo.NewHandle(cfg.Log)
		cc.handles = append(cc.handles, h)
		C.fbup_go_set_log(cc.c, C.uintptr_t(h))
	}
	if cfg.TokenRefresh != nil {
		h := cgo.NewHandle(cfg.TokenRefresh)
		cc.handles = append(cc.handles, h)
		C.fbup_go_set_token(cc.c, C.uintptr_t(h))
	}
	return cc, nil
}

func (cc *cConfig) free() {
	for _, p := range cc.strings {
		C.free(unsafe.Pointer(p))
	}
	cc.strings = nil
}

func deleteHandles(hs []cgo.Handle) {
	for _, h := range hs {
		h.Delete()
	}
}

// Session is one upload session. Close it when done; a finalizer closes a forgotten one.
type Session struct {
	// mu is held by each call on the session (Upload, Offset) and by Close.
	mu sync.Mutex
	// life guards s against Close while ID or Info reads it.
	life sync.RWMutex
	s    *C.fbup_session
	// handles are the Go functions libfbup calls for this session (log, token, reader).
	handles []cgo.Handle
	// client is the Client the session was opened from, told when it closes.
	client *Client
	// running is the call in progress, which Close cancels; guarded by runMu.
	runMu   sync.Mutex
	running *call
}

// errorOf is the error of st, with the session's details and the call's leftovers
// (the reader's error), in Go words.
func errorOf(s *C.fbup_session, st C.fbup_status, c *call) error {
	if st == C.FBUP_OK {
		return nil
	}
	e := &Error{Status: Status(st), Message: Status(st).String()}
	if s != nil {
		var info C.fbup_error
		if C.fbup_error_info(s, &info) == C.FBUP_OK && info.status == st {
			e.HTTPStatus = int(info.http_status)
			e.GraphCode = int64(info.graph_code)
			e.GraphSubcode = int64(info.graph_subcode)
			e.GraphType = C.GoString(info.graph_type)
			e.FbtraceID = C.GoString(info.fbtrace_id)
			e.Message = C.GoString(info.message)
		}
		if id := C.fbup_session_id(s); id != nil {
			e.SessionID = C.GoString(id)
		}
	}
	e.Message = goWords(e.Message)
	if c != nil && c.readErr != nil && e.Status == ErrFile {
		e.cause = c.readErr
		e.Message += ": " + c.readErr.Error()
	}
	return e
}

// withContext marks err as ended by ctx when ctx is done.
func withContext(ctx context.Context, err error) error {
	if err == nil || ctx.Err() == nil {
		return err
	}
	if e, ok := err.(*Error); ok {
		e.cause = ctx.Err()
		return e
	}
	return &Error{Status: ErrCancelled, Message: ctx.Err().Error(), cause: ctx.Err()}
}

// withPath gives a file error the *fs.PathError of path, when the file cannot be
// opened from here either.
func withPath(err error, path string) error {
	if e, ok := err.(*Error); ok && e.Status == ErrFile && e.cause == nil {
		if _, serr := os.Stat(path); serr != nil {
			e.cause = serr
		}
	}
	return err
}

// opening runs one of libfbup's calls that make a session under ctx, with a canceller
// that ctx ending (or a panic in a callback) cancels: the call itself ends within a
// second, and nothing of ctx stays with the session. handles go to the session, or
// are deleted on failure.
func opening(ctx context.Context, handles []cgo.Handle, client *Client,
	f func(k *C.fbup_canceller, out **C.fbup_session) C.fbup_status) (*Session, error) {
	if err := ctx.Err(); err != nil {
		deleteHandles(handles)
		return nil, withContext(ctx, err)
	}
	var k *C.fbup_canceller
	if st := C.fbup_canceller_new(&k); st != C.FBUP_OK {
		deleteHandles(handles)
		return nil, &Error{Status: Status(st), Message: "cannot make a canceller"}
	}
	defer C.fbup_canceller_free(k)
	c := &call{cancelFn: func() { C.fbup_canceller_cancel(k) }}
	var s *C.fbup_session
	var st C.fbup_status
	c.run(ctx, func() { st = f(k, &s) })
	if err := errorOf(s, st, c); err != nil || c.panicked {
		C.fbup_free(s)
		deleteHandles(handles)
		c.repanic()
		return nil, withContext(ctx, err)
	}
	sess := &Session{s: s, handles: handles, client: client}
	runtime.SetFinalizer(sess, (*Session).Close)
	return sess, nil
}

// open makes a C config of cfg (its Go functions' handles joining handles) and runs
// call with it under ctx (see opening).
func open(ctx context.Context, cfg Config, handles []cgo.Handle,
	call func(c *C.fbup_config, out **C.fbup_session) C.fbup_status) (*Session, error) {
	cc, err := newCConfig(cfg)
	if err != nil {
		deleteHandles(handles)
		return nil, err
	}
	defer cc.free()
	handles = append(handles, cc.handles...)
	return opening(ctx, handles, nil, func(k *C.fbup_canceller, out **C.fbup_session) C.fbup_status {
		cc.c.canceller = k
		return call(cc.c, out)
	})
}

// Create checks the file and creates a Graph upload session for it (step 1). A
// missing or unreadable file is an ErrFile error that unwraps to its *fs.PathError.
func Create(ctx context.Context, cfg Config, path string) (*Session, error) {
	s, err := open(ctx, cfg, nil, func(c *C.fbup_config, out **C.fbup_session) C.fbup_status {
		cpath := C.CString(path)
		defer C.free(unsafe.Pointer(cpath))
		return C.fbup_create_session(c, cpath, out)
	})
	return s, withPath(err, path)
}

// Resume re-opens a session saved earlier (its ID, "?sig=" part included) for the
// same file, and asks Graph how many bytes it holds.
func Resume(ctx context.Context, cfg Config, path, sessionID string) (*Session, error) {
	s, err := open(ctx, cfg, nil, func(c *C.fbup_config, out **C.fbup_session) C.fbup_status {
		cpath, cid := C.CString(path), C.CString(sessionID)
		defer C.free(unsafe.Pointer(cpath))
		defer C.free(unsafe.Pointer(cid))
		return C.fbup_resume_session(c, cpath, cid, out)
	})
	return s, withPath(err, path)
}

// CreateReader creates a session for size bytes read through r (memory, a store
// that is not a file). cfg.FileName and cfg.FileType are required. r is read again
// from any offset when an upload resumes, until Close; an error it returns ends the
// call with ErrFile, and the error unwraps to it.
func CreateReader(ctx context.Context, cfg Config, r io.ReaderAt, size int64) (*Session, error) {
	if size < 0 {
		return nil, &Error{Status: ErrArgument, Message: "size is negative"}
	}
	h := cgo.NewHandle(r)
	return open(ctx, cfg, []cgo.Handle{h}, func(c *C.fbup_config, out **C.fbup_session) C.fbup_status {
		return C.fbup_go_create_reader(c, C.uint64_t(size), C.uintptr_t(h), out)
	})
}

// ResumeReader re-opens a session saved earlier for the bytes of r (see CreateReader).
func ResumeReader(ctx context.Context, cfg Config, r io.ReaderAt, size int64, sessionID string) (*Session, error) {
	if size < 0 {
		return nil, &Error{Status: ErrArgument, Message: "size is negative"}
	}
	h := cgo.NewHandle(r)
	return open(ctx, cfg, []cgo.Handle{h}, func(c *C.fbup_config, out **C.fbup_session) C.fbup_status {
		cid := C.CString(sessionID)
		defer C.free(unsafe.Pointer(cid))
		return C.fbup_go_resume_reader(c, C.uint64_t(size), C.uintptr_t(h), cid, out)
	})
}

// ID is the session id, "?sig=" part included: save it to resume later.
func (s *Session) ID() string {
	s.life.RLock()
	defer s.life.RUnlock()
	if s.s == nil {
		return ""
	}
	return C.GoString(C.fbup_session_id(s.s))
}

// do runs f, a call on the session, under ctx (held: s.mu): ctx ending, Close, or a
// panic in a callback cancels it within a second (fbup_cancel). A cancel that came as
// an earlier call returned waits in libfbup for the next call: a call that ends
// cancelled though nothing cancelled it met such a cancel, and runs once more.
func (s *Session) do(ctx context.Context, f func(sess *C.fbup_session) C.fbup_status) (C.fbup_status, *call) {
	sess := s.s
	for attempt := 0; ; attempt++ {
		c := &call{cancelFn: func() { C.fbup_cancel(sess) }}
		s.runMu.Lock()
		s.running = c
		s.runMu.Unlock()
		var st C.fbup_status
		c.run(ctx, func() { st = f(sess) })
		s.runMu.Lock()
		s.running = nil
		s.runMu.Unlock()
		if attempt == 0 && st == C.FBUP_E_CANCELLED && !c.cancelled && !c.panicked {
			continue
		}
		return st, c
	}
}

// Upload sends the file from Graph's offset to the end, resuming on its own, and
// returns Graph's handle (it may hold "\n"). Cancelling ctx (or its deadline)
// cancels the upload within a second; the session stays resumable. onProgress may
// be nil; it is called on the goroutine that called Upload.
func (s *Session) Upload(ctx context.Context, onProgress func(done, total int64)) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.s == nil {
		return "", &Error{Status: ErrState, Message: "the session is closed"}
	}
	if err := ctx.Err(); err != nil {
		return "", withContext(ctx, &Error{Status: ErrCancelled, Message: err.Error(), SessionID: s.ID()})
	}
	var handle C.uintptr_t
	if onProgress != nil {
		h := cgo.NewHandle(onProgress)
		defer h.Delete()
		handle = C.uintptr_t(h)
	}
	st, c := s.do(ctx, func(sess *C.fbup_session) C.fbup_status { return C.fbup_go_upload(sess, handle) })
	c.repanic()
	if err := errorOf(s.s, st, c); err != nil {
		return "", withContext(ctx, err)
	}
	return C.GoString(C.fbup_file_handle(s.s)), nil
}

// Offset asks Graph how many bytes it holds (step 3). Cancelling ctx (or its
// deadline) ends the call within a second.
func (s *Session) Offset(ctx context.Context) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.s == nil {
		return 0, &Error{Status: ErrState, Message: "the session is closed"}
	}
	if err := ctx.Err(); err != nil {
		return 0, withContext(ctx, &Error{Status: ErrCancelled, Message: err.Error(), SessionID: s.ID()})
	}
	var off C.uint64_t
	st, c := s.do(ctx, func(sess *C.fbup_session) C.fbup_status { return C.fbup_get_offset(sess, &off) })
	c.repanic()
	if err := errorOf(s.s, st, c); err != nil {
		return 0, withContext(ctx, err)
	}
	return int64(off), nil
}

// Info returns the session's transfer figures so far; it may be called while
// Upload runs on another goroutine (or from its progress function).
func (s *Session) Info() (Info, error) {
	// Not under s.mu: Upload holds it for the whole upload, and fbup_get_info is
	// safe beside a running upload.
	s.life.RLock()
	defer s.life.RUnlock()
	if s.s == nil {
		return Info{}, &Error{Status: ErrState, Message: "the session is closed"}
	}
	var out C.fbup_info
	out.struct_size = C.uint32_t(unsafe.Sizeof(out))
	if err := errorOf(s.s, C.fbup_get_info(s.s, &out), nil); err != nil {
		return Info{}, err
	}
	return Info{
		BytesConfirmed: int64(out.bytes_confirmed),
		BytesSent:      int64(out.bytes_sent),
		Requests:       int64(out.requests),
		Retries:        int64(out.retries),
		Resumes:        int64(out.resumes),
		Wait:           time.Duration(out.wait_ms) * time.Millisecond,
		Elapsed:        time.Duration(out.elapsed_ms) * time.Millisecond,
	}, nil
}

// Close releases the session; calling it twice is harmless. An Upload or Offset
// running on another goroutine is cancelled first (it returns ErrCancelled, and the
// session id stays resumable from a new session), so Close returns within a second.
func (s *Session) Close() error {
	s.runMu.Lock()
	if s.running != nil {
		s.running.cancel()
	}
	s.runMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.life.Lock()
	defer s.life.Unlock()
	if s.s != nil {
		C.fbup_free(s.s)
		s.s = nil
		deleteHandles(s.handles)
		s.handles = nil
		runtime.SetFinalizer(s, nil)
		if s.client != nil {
			s.client.sessionClosed()
			s.client = nil
		}
	}
	return nil
}

// Upload creates a session for path, uploads the file and returns Graph's handle.
func Upload(ctx context.Context, cfg Config, path string, onProgress func(done, total int64)) (string, error) {
	s, err := Create(ctx, cfg, path)
	if err != nil {
		return "", err
	}
	defer s.Close()
	return s.Upload(ctx, onProgress)
}
