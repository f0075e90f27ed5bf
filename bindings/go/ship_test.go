package fbup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A context bounds the call it is given: a session made under a short deadline
// uploads afterwards, under context.Background(), through an answer that comes 1.5 s
// late (the old binding cut the session's timeouts to the deadline for good).
func TestADeadlineBoundsTheCallNotTheSession(t *testing.T) {
	url := emulator(t, "--fault", "upload,late=1500", "--fault", "offset,late=1500")
	path, want := makeFile(t, "deadline.mp4", 3_000_000)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	s, err := Create(ctx, testConfig(url), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	<-ctx.Done()
	start := time.Now()
	off, err := s.Offset(context.Background())
	if err != nil || off != 0 {
		t.Fatalf("Offset after the create's deadline: %d, %v", off, err)
	}
	if _, err := s.Upload(context.Background(), nil); err != nil {
		t.Fatalf("Upload after the create's deadline: %v", err)
	}
	t.Logf("created under a 1 s deadline; offset and upload after it, each answered 1.5 s late: ok in %v",
		time.Since(start).Round(time.Millisecond))
	if got := lookup(t, nil, url, s.ID()).SHA256; got != want {
		t.Errorf("server has %s, file is %s", got, want)
	}
}

// A cancelled create cancels libfbup's call: it returns within a second, and no
// goroutine (no OS thread) is left behind.
func TestACancelledCreateLeavesNothingRunning(t *testing.T) {
	path, _ := makeFile(t, "a.png", 100)
	cfg := testConfig(silentPort(t))
	client, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	before := runtime.NumGoroutine()
	for i := 0; i < 5; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		start := time.Now()
		var err error
		if i%2 == 0 {
			_, err = Create(ctx, cfg, path)
		} else {
			_, err = client.Create(ctx, path)
		}
		if !errors.Is(err, context.Canceled) || !errors.Is(err, ErrCancelled) {
			t.Fatalf("create %d: want ErrCancelled and context.Canceled, got %v", i, err)
		}
		if took := time.Since(start); took > 1100*time.Millisecond {
			t.Errorf("create %d returned %v after the cancel", i, took-100*time.Millisecond)
		}
	}
	time.Sleep(50 * time.Millisecond)
	if after := runtime.NumGoroutine(); after > before {
		t.Errorf("5 cancelled creates left %d goroutines running (before: %d)", after, before)
	}
}

// openFiles counts this process's file descriptors, once the test's own HTTP client
// has let go of its idle connections.
func openFiles(t *testing.T) int {
	http.DefaultClient.CloseIdleConnections()
	time.Sleep(20 * time.Millisecond)
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("SKIP: no /proc/self/fd")
	}
	return len(fds)
}

// catch runs f and returns what it panicked with.
func catch(f func()) (r interface{}) {
	defer func() { r = recover() }()
	f()
	return nil
}

type panickyReader struct {
	data  []byte
	armed atomic.Bool
}

func (r *panickyReader) ReadAt(p []byte, off int64) (int, error) {
	if off >= 1_000_000 && r.armed.CompareAndSwap(true, false) {
		panic("reader panic")
	}
	return bytes.NewReader(r.data).ReadAt(p, off)
}

// A panic in any function libfbup calls is raised again on the caller's goroutine once
// the call has returned; the session then goes on, byte-exact, and no descriptor leaks.
func TestAPanicInACallbackIsRaisedHereAndTheSessionGoesOn(t *testing.T) {
	fds := 0
	for i, where := range []string{"progress", "log", "token", "reader"} {
		if i == 1 {
			// After one round: Go's own poller and pipes are open by now.
			fds = openFiles(t)
		}
		t.Run(where, func(t *testing.T) {
			url := emulator(t, "--fault", "upload,status=401,code=190,subcode=463")
			data := testBytes(3_000_000)
			cfg := testConfig(url)
			cfg.FileName, cfg.FileType = where+".mp4", "video/mp4"
			var logArmed, tokenArmed atomic.Bool
			logArmed.Store(where == "log")
			tokenArmed.Store(where == "token")
			cfg.Log = func(_ LogLevel, line string) {
				if strings.Contains(line, "file_offset: ") && logArmed.CompareAndSwap(true, false) {
					panic("log panic")
				}
			}
			cfg.TokenRefresh = func() (string, error) {
				if tokenArmed.CompareAndSwap(true, false) {
					panic("token panic")
				}
				return testToken, nil
			}
			r := &panickyReader{data: data}
			r.armed.Store(where == "reader")
			s, err := CreateReader(context.Background(), cfg, r, int64(len(data)))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			progressArmed := where == "progress"
			got := catch(func() {
				_, err = s.Upload(context.Background(), func(done, total int64) {
					if progressArmed && done > 0 {
						progressArmed = false
						panic("progress panic")
					}
				})
			})
			if got != where+" panic" {
				t.Fatalf("want the %s panic raised here, got %v (err %v)", where, got, err)
			}
			if _, err := s.Upload(context.Background(), nil); err != nil {
				t.Fatalf("after the panic the session goes on: %v", err)
			}
			if got := lookup(t, nil, url, s.ID()).SHA256; got != sum(data) {
				t.Errorf("server has %s", got)
			}
		})
	}
	if now := openFiles(t); now > fds {
		t.Errorf("%d file descriptors after the first round, %d after the last", fds, now)
	}
}

// Offset waits on the network, so it takes a context, and a cancel ends it at once and
// with nothing left: the next call goes on as usual.
func TestOffsetTakesAContext(t *testing.T) {
	url := emulator(t, "--fault", "offset,late=5000")
	path, _ := makeFile(t, "a.png", 1000)
	s, err := Create(context.Background(), testConfig(url), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	_, err = s.Offset(ctx)
	if !errors.Is(err, context.Canceled) || !errors.Is(err, ErrCancelled) {
		t.Fatalf("want ErrCancelled and context.Canceled, got %v", err)
	}
	if took := time.Since(start); took > 1200*time.Millisecond {
		t.Errorf("Offset returned %v after the cancel", took-200*time.Millisecond)
	}
	if off, err := s.Offset(context.Background()); err != nil || off != 0 {
		t.Fatalf("the next Offset: %d, %v", off, err)
	}
	if _, err := s.Upload(context.Background(), nil); err != nil {
		t.Fatalf("the upload after a cancelled Offset: %v", err)
	}
}

var errMyStore = errors.New("my store is down")

type failingReader struct{ data []byte }

func (r failingReader) ReadAt(p []byte, off int64) (int, error) {
	if off >= 1_048_576 {
		return 0, fmt.Errorf("block %d: %w", off, errMyStore)
	}
	return bytes.NewReader(r.data).ReadAt(p, off)
}

// The reader's error and a missing file's *fs.PathError are in the chain.
func TestTheReadersErrorAndAMissingFileUnwrap(t *testing.T) {
	url := emulator(t)
	cfg := testConfig(url)
	cfg.FileName, cfg.FileType = "store.mp4", "video/mp4"
	cfg.SendBuffer = 65536
	s, err := CreateReader(context.Background(), cfg, failingReader{testBytes(3_000_000)}, 3_000_000)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = s.Upload(context.Background(), nil)
	if !errors.Is(err, ErrFile) || !errors.Is(err, errMyStore) {
		t.Fatalf("want ErrFile wrapping errMyStore, got %v", err)
	}
	if !strings.Contains(err.Error(), "my store is down") || strings.Contains(err.Error(), "callback") {
		t.Errorf("the message says what the reader said, in Go words: %v", err)
	}
	missing := filepath.Join(t.TempDir(), "gone.mp4")
	for _, open := range []func() error{
		func() error { _, err := Create(context.Background(), cfg, missing); return err },
		func() error { _, err := Resume(context.Background(), cfg, missing, "upload:x?sig=y"); return err },
	} {
		err := open()
		var pe *fs.PathError
		if !errors.Is(err, fs.ErrNotExist) || !errors.As(err, &pe) || pe.Path != missing || !errors.Is(err, ErrFile) {
			t.Fatalf("want ErrFile, fs.ErrNotExist and a *fs.PathError for %s, got %v", missing, err)
		}
	}
}

// Messages speak Go (Config's field names), constants print as Go values, and sizes
// are int64.
func TestGoWordsNamesAndLevels(t *testing.T) {
	_, err := Create(context.Background(), Config{AccessToken: testToken}, "a.png")
	if err == nil || !strings.Contains(err.Error(), "AppID is empty") || strings.Contains(err.Error(), "app_id") {
		t.Errorf("want the Go field name: %v", err)
	}
	_, err = NewClient(Config{AppID: "1234"})
	if err == nil || !strings.Contains(err.Error(), "AccessToken") || strings.Contains(err.Error(), "NULL") {
		t.Errorf("want the Go field name: %v", err)
	}
	for level, name := range map[LogLevel]string{LogError: "error", LogWarning: "warning", LogInfo: "info", LogDebug: "debug", 9: "LogLevel(9)"} {
		if level.String() != name {
			t.Errorf("%d: %q", int32(level), level.String())
		}
	}
	if got := fmt.Sprintf("%s %d %s", ErrAuth.Name(), ErrAuth, LogDebug); got != "FBUP_E_AUTH 5 debug" {
		t.Errorf("got %q", got)
	}
	var info Info
	var _ int64 = info.BytesSent
}

// Close during an Upload on another goroutine cancels it, and returns within a second.
func TestCloseCancelsARunningUpload(t *testing.T) {
	url := emulator(t, "--fault", "upload,stall=30000,after=100000")
	path, _ := makeFile(t, "a.mp4", 1_000_000)
	s, err := Create(context.Background(), testConfig(url), path)
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	var once sync.Once
	result := make(chan error, 1)
	go func() {
		_, err := s.Upload(context.Background(), func(done, total int64) {
			once.Do(func() { close(started) })
		})
		result <- err
	}()
	<-started
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	s.Close()
	if took := time.Since(start); took > time.Second {
		t.Errorf("Close took %v", took)
	}
	if err := <-result; !errors.Is(err, ErrCancelled) {
		t.Errorf("the upload Close cut: %v", err)
	}
}
