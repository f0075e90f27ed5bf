package fbup

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const (
	testToken      = "EAAgo-test-token"
	refreshedToken = "EAAgo-refreshed-token"
)

// emulator starts the emulator binary named by FBUP_EMULATOR (tests/bindings.rs sets
// it after installing libfbup; by hand:
// FBUP_EMULATOR=target/debug/fbup-emulator PKG_CONFIG_PATH=... go test ./...) with
// args, and returns its URL. It accepts testToken and refreshedToken.
func emulator(t *testing.T, args ...string) string {
	bin := os.Getenv("FBUP_EMULATOR")
	if bin == "" {
		if os.Getenv("FBUP_REQUIRE_ALL") == "1" {
			t.Fatal("FBUP_EMULATOR not set, and FBUP_REQUIRE_ALL=1")
		}
		t.Skip("SKIP: FBUP_EMULATOR not set; run through cargo test --test bindings")
	}
	args = append([]string{"--port", "0", "--token", testToken, "--token", refreshedToken}, args...)
	cmd := exec.Command(bin, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("cannot start the emulator: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("no first line from the emulator: %v", err)
	}
	url := strings.TrimPrefix(strings.TrimSpace(line), "fbup-emulator listening on ")
	if !strings.HasPrefix(url, "http") {
		t.Fatalf("unexpected first line %q", line)
	}
	return url
}

// graph is an emulator that cuts the first upload at 1 MB.
func graph(t *testing.T) string {
	return emulator(t, "--fault", "upload,cut-at=1000000")
}

func testConfig(url string) Config {
	return Config{AppID: "1234", AccessToken: testToken, GraphURL: url, RetryBase: 5 * time.Millisecond}
}

func makeFile(t *testing.T, name string, size int) (string, string) {
	data := testBytes(size)
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, sum(data)
}

func testBytes(size int) []byte {
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i*17 + i>>12)
	}
	return data
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

type serverSession struct {
	ID             string `json:"id"`
	SHA256         string `json:"sha256"`
	UploadRequests int    `json:"upload_requests"`
}

func lookup(t *testing.T, client *http.Client, url, id string) serverSession {
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Get(url + "/_emulator/sessions")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var sessions []serverSession
	if err := json.NewDecoder(resp.Body).Decode(&sessions); err != nil {
		t.Fatal(err)
	}
	for _, s := range sessions {
		if s.ID == id {
			return s
		}
	}
	t.Fatalf("session %s not on the server", id)
	return serverSession{}
}

func TestUploadWithACutIsByteExact(t *testing.T) {
	url := graph(t)
	path, want := makeFile(t, "cut.mp4", 3_000_000)
	ctx := context.Background()
	s, err := Create(ctx, testConfig(url), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var last int64
	handle, err := s.Upload(ctx, func(done, total int64) {
		if done < last || done > total {
			t.Errorf("progress %d after %d of %d", done, last, total)
		}
		last = done
	})
	if err != nil {
		t.Fatal(err)
	}
	if last != 3_000_000 {
		t.Errorf("last progress %d", last)
	}
	if !strings.Contains(handle, "\n") {
		t.Errorf("video handles are several joined by newlines: %q", handle)
	}
	got := lookup(t, nil, url, s.ID())
	if got.SHA256 != want {
		t.Errorf("server has %s, file is %s", got.SHA256, want)
	}
	if got.UploadRequests < 2 {
		t.Errorf("the emulator's cut did not happen: %d upload requests", got.UploadRequests)
	}
}

func TestCancellingTheContextCancelsThenResume(t *testing.T) {
	url := graph(t)
	path, want := makeFile(t, "doc.pdf", 16_000_000)
	cfg := testConfig(url)
	s, err := Create(context.Background(), cfg, path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	_, err = s.Upload(ctx, func(done, total int64) {
		if done > 0 {
			cancel()
		}
	})
	if !errors.Is(err, ErrCancelled) || !errors.Is(err, context.Canceled) {
		t.Fatalf("want ErrCancelled and context.Canceled, got %v", err)
	}
	var fe *Error
	if !errors.As(err, &fe) || fe.SessionID != s.ID() || fe.SessionID == "" {
		t.Fatalf("the error names the session to resume: %+v", fe)
	}
	s.Close()
	r, err := Resume(context.Background(), cfg, path, fe.SessionID)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Upload(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if got := lookup(t, nil, url, fe.SessionID).SHA256; got != want {
		t.Errorf("server has %s, file is %s", got, want)
	}
}

func TestARefusedTokenIsAnErrorWithGraphFields(t *testing.T) {
	url := graph(t)
	path, _ := makeFile(t, "a.png", 100)
	cfg := testConfig(url)
	cfg.AccessToken = "EAAnot-valid"
	_, err := Upload(context.Background(), cfg, path, nil)
	var fe *Error
	if !errors.As(err, &fe) || !errors.Is(err, ErrAuth) {
		t.Fatalf("want *fbup.Error with ErrAuth, got %v", err)
	}
	if fe.GraphCode != 190 || fe.HTTPStatus != 400 || fe.FbtraceID == "" {
		t.Errorf("unexpected %+v", fe)
	}
	if strings.Contains(fe.Error(), "EAAnot-valid") {
		t.Errorf("the token leaked: %s", fe.Error())
	}
}

// A listener that accepts connections and never answers: a create against it can
// only end by a timeout, here the context's deadline.
func silentPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		for _, c := range held {
			c.Close()
		}
	})
	return "http://" + ln.Addr().String()
}

func TestADeadlineEndsACreateThatNothingAnswers(t *testing.T) {
	path, _ := makeFile(t, "a.png", 100)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	_, err := Create(ctx, testConfig(silentPort(t)), path)
	took := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want context.DeadlineExceeded, got %v", err)
	}
	if took > 3*time.Second {
		t.Errorf("a 2 s deadline returned after %v", took)
	}
	t.Logf("a 2 s deadline returned after %v: %v", took.Round(time.Millisecond), err)
}

func TestTheTraceAndTheFiguresReachGo(t *testing.T) {
	url := graph(t)
	path, want := makeFile(t, "trace.mp4", 2_000_000)
	var lines []string
	var infoDuring Info
	cfg := testConfig(url)
	cfg.LogLevel = LogDebug
	cfg.Log = func(level LogLevel, line string) { lines = append(lines, line) }
	s, err := Create(context.Background(), cfg, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Upload(context.Background(), func(done, total int64) {
		infoDuring, _ = s.Info()
	}); err != nil {
		t.Fatal(err)
	}
	info, err := s.Info()
	if err != nil {
		t.Fatal(err)
	}
	if got := lookup(t, nil, url, s.ID()); got.SHA256 != want {
		t.Errorf("server has %s, file is %s", got.SHA256, want)
	}
	// The emulator cuts the first upload at 1 MB: one retry, one resume, and more
	// body bytes sent than the file holds.
	if info.BytesConfirmed != 2_000_000 || info.Retries != 1 || info.Resumes != 1 ||
		info.BytesSent <= 2_000_000 || info.Requests < 4 || info.Elapsed <= 0 {
		t.Errorf("figures %+v", info)
	}
	if infoDuring.Requests == 0 {
		t.Errorf("figures read from the progress callback: %+v", infoDuring)
	}
	all := strings.Join(lines, "\n")
	for _, must := range []string{"-> POST ", "<- HTTP 200 to GET ", "retry: attempt 1 of", "connected to 127.0.0.1"} {
		if !strings.Contains(all, must) {
			t.Errorf("the trace lacks %q:\n%s", must, all)
		}
	}
	if strings.Contains(all, testToken) {
		t.Errorf("the token is in the trace")
	}
}

// Three fields Config did not have before: a CA file, a send rate, a token refresh;
// a reader source; HTTPS through a cut.
func TestHTTPSWithACAFileAReaderAndATokenRefresh(t *testing.T) {
	pki := t.TempDir()
	url := emulator(t, "--tls-generate", pki, "--fault", "upload,cut-at=500000",
		"--fault", "upload,status=401,code=190,subcode=463")
	data := testBytes(1_500_000)
	refreshed := 0
	cfg := testConfig(url)
	cfg.CAFile = filepath.Join(pki, "ca.pem")
	cfg.MaxSendRate = 100 << 20
	cfg.StallTimeout = 10 * time.Second
	cfg.TokenRefresh = func() (string, error) {
		refreshed++
		return refreshedToken, nil
	}
	cfg.FileName = "memory.mp4"
	cfg.FileType = "video/mp4"
	ctx := context.Background()
	s, err := CreateReader(ctx, cfg, bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Upload(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if refreshed == 0 {
		t.Error("the token refresh was never asked")
	}
	pem, err := os.ReadFile(cfg.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	got := lookup(t, client, url, s.ID())
	if got.SHA256 != sum(data) || got.UploadRequests < 3 {
		t.Errorf("server has %+v, want %s after a cut and a refused token", got, sum(data))
	}
	// Without the CA file the certificate is refused.
	cfg.CAFile = ""
	cfg.MaxAttempts = 1
	_, err = CreateReader(ctx, cfg, bytes.NewReader(data), int64(len(data)))
	if !errors.Is(err, ErrNetwork) || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("want a certificate error, got %v", err)
	}
}

func TestVersionAndNames(t *testing.T) {
	if strings.Count(Version(), ".") != 2 {
		t.Errorf("version %q", Version())
	}
	if ErrAuth.Name() != "FBUP_E_AUTH" || OK.Name() != "FBUP_OK" {
		t.Errorf("names %q %q", ErrAuth.Name(), OK.Name())
	}
	var err error = ErrCancelled
	if !errors.Is(err, ErrCancelled) || errors.Is(err, ErrAuth) {
		t.Error("statuses are comparable error values")
	}
	if _, err := Create(context.Background(), Config{AppID: "1", AccessToken: "t", StallTimeout: -time.Second}, "x.png"); !errors.Is(err, ErrArgument) {
		t.Errorf("a negative duration: %v", err)
	}
}

// MaxRequest under the link's limit: against an emulator that keeps only whole
// requests and cuts every request past 1 MB, 700 kB requests each arrive whole.
func TestMaxRequestKeepsEveryRequestUnderTheLinksLimit(t *testing.T) {
	url := emulator(t, "--whole-requests-only", "--fault", "upload,cut-after=1000000,times=always")
	path, want := makeFile(t, "bounded.mp4", 3_000_000)
	cfg := testConfig(url)
	cfg.MaxRequest = 700_000
	ctx := context.Background()
	s, err := Create(ctx, cfg, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Upload(ctx, nil); err != nil {
		t.Fatal(err)
	}
	got := lookup(t, nil, url, s.ID())
	if got.SHA256 != want {
		t.Errorf("server has %s, file is %s", got.SHA256, want)
	}
	if got.UploadRequests != 5 {
		t.Errorf("%d upload requests, want 5 of at most 700 kB", got.UploadRequests)
	}
}

type emulatorStats struct {
	Connections int `json:"connections"`
}

// connections asks the emulator how many connections it accepted; each ask opens one
// of its own (no keep-alive), so that what a test counts is exact.
func connections(t *testing.T, url string) int {
	once := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := once.Get(url + "/_emulator/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st emulatorStats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st.Connections
}

// Several files through one Client share its connections: one for four files.
func TestClientSharesOneConnectionAcrossFiles(t *testing.T) {
	url := emulator(t)
	client, err := NewClient(testConfig(url))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx := context.Background()
	before := connections(t, url)
	type uploaded struct{ id, sha string }
	var done []uploaded
	for i := 0; i < 4; i++ {
		path, want := makeFile(t, fmt.Sprintf("c%d.png", i), 200_000)
		s, err := client.Create(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Upload(ctx, nil); err != nil {
			t.Fatal(err)
		}
		done = append(done, uploaded{s.ID(), want})
		s.Close()
	}
	data := testBytes(100_000)
	s, err := client.CreateReader(ctx, bytes.NewReader(data), int64(len(data)), "mem.png", "image/png")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Upload(ctx, nil); err != nil {
		t.Fatal(err)
	}
	done = append(done, uploaded{s.ID(), sum(data)})
	s.Close()
	// The second stats request is one connection more.
	if n := connections(t, url) - before; n != 2 {
		t.Errorf("%d connections for five files and one stats request, want 2", n)
	}
	for _, u := range done {
		if got := lookup(t, nil, url, u.id); got.SHA256 != u.sha {
			t.Errorf("server has %s, file is %s", got.SHA256, u.sha)
		}
	}
	// A cancelled context cancels a create at once.
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := client.Create(cancelled, "nope.png"); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}
