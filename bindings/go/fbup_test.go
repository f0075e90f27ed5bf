package fbup

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// graph starts the emulator binary named by FBUP_EMULATOR for this test, with its
// first upload cut at 1 MB, and returns its URL and a token. tests/bindings.rs sets
// FBUP_EMULATOR after installing libfbup; by hand:
//
//	FBUP_EMULATOR=target/debug/fbup-emulator PKG_CONFIG_PATH=... go test ./...
func graph(t *testing.T) (string, string) {
	bin := os.Getenv("FBUP_EMULATOR")
	if bin == "" {
		t.Skip("SKIP: FBUP_EMULATOR not set; run through cargo test --test bindings")
	}
	cmd := exec.Command(bin, "--port", "0", "--token", "EAAgo-test-token", "--fault", "upload,cut-at=1000000")
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
	if !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Fatalf("unexpected first line %q", line)
	}
	return url, "EAAgo-test-token"
}

func makeFile(t *testing.T, name string, size int) (string, string) {
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i*17 + i>>12)
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return path, hex.EncodeToString(sum[:])
}

type serverSession struct {
	ID             string `json:"id"`
	SHA256         string `json:"sha256"`
	UploadRequests int    `json:"upload_requests"`
}

func lookup(t *testing.T, url, id string) serverSession {
	resp, err := http.Get(url + "/_emulator/sessions")
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
	url, token := graph(t)
	path, sum := makeFile(t, "cut.mp4", 3_000_000)
	cfg := Config{AppID: "1234", AccessToken: token, GraphURL: url, RetryBaseMs: 5}
	s, err := Create(cfg, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var last uint64
	handle, err := s.Upload(context.Background(), func(done, total uint64) {
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
	got := lookup(t, url, s.ID())
	if got.SHA256 != sum {
		t.Errorf("server has %s, file is %s", got.SHA256, sum)
	}
	if got.UploadRequests < 2 {
		t.Errorf("the emulator's cut did not happen: %d upload requests", got.UploadRequests)
	}
}

func TestCancellingTheContextCancelsThenResume(t *testing.T) {
	url, token := graph(t)
	path, sum := makeFile(t, "doc.pdf", 16_000_000)
	cfg := Config{AppID: "1234", AccessToken: token, GraphURL: url, RetryBaseMs: 5}
	s, err := Create(cfg, path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	_, err = s.Upload(ctx, func(done, total uint64) {
		if done > 0 {
			cancel()
		}
	})
	var fe *Error
	if !errors.As(err, &fe) || fe.Status != ErrCancelled {
		t.Fatalf("want ErrCancelled, got %v", err)
	}
	id := s.ID()
	s.Close()
	r, err := Resume(cfg, path, id)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Upload(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if got := lookup(t, url, id).SHA256; got != sum {
		t.Errorf("server has %s, file is %s", got, sum)
	}
}

func TestARefusedTokenIsAnErrorWithGraphFields(t *testing.T) {
	url, _ := graph(t)
	path, _ := makeFile(t, "a.png", 100)
	_, err := Upload(context.Background(), Config{AppID: "1234", AccessToken: "EAAnot-valid", GraphURL: url}, path, nil)
	var fe *Error
	if !errors.As(err, &fe) {
		t.Fatalf("want *fbup.Error, got %v", err)
	}
	if fe.Status != ErrAuth || fe.GraphCode != 190 || fe.HTTPStatus != 400 || fe.FbtraceID == "" {
		t.Errorf("unexpected %+v", fe)
	}
	if strings.Contains(fe.Error(), "EAAnot-valid") {
		t.Errorf("the token leaked: %s", fe.Error())
	}
}

func TestVersion(t *testing.T) {
	if strings.Count(Version(), ".") != 2 {
		t.Errorf("version %q", Version())
	}
}

func TestTheTraceAndTheFiguresReachGo(t *testing.T) {
	url, token := graph(t)
	path, sum := makeFile(t, "trace.mp4", 2_000_000)
	var lines []string
	var infoDuring Info
	cfg := Config{AppID: "1234", AccessToken: token, GraphURL: url, RetryBaseMs: 5,
		LogLevel: LogDebug,
		Log: func(level LogLevel, line string) {
			lines = append(lines, line)
		}}
	s, err := Create(cfg, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Upload(context.Background(), func(done, total uint64) {
		infoDuring, _ = s.Info()
	}); err != nil {
		t.Fatal(err)
	}
	info, err := s.Info()
	if err != nil {
		t.Fatal(err)
	}
	if got := lookup(t, url, s.ID()); got.SHA256 != sum {
		t.Errorf("server has %s, file is %s", got.SHA256, sum)
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
	if strings.Contains(all, token) {
		t.Errorf("the token is in the trace")
	}
}
