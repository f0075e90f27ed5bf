package fbup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The emulator's URL and token come from tests/bindings.rs, which installs libfbup,
// starts the emulator with a cut, and runs `go test ./...`.
func graph(t *testing.T) (string, string) {
	url := os.Getenv("FBUP_TEST_GRAPH_URL")
	if url == "" {
		t.Skip("SKIP: FBUP_TEST_GRAPH_URL not set; run through cargo test --test bindings")
	}
	return url, os.Getenv("FBUP_TEST_TOKEN")
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

func serverSHA(t *testing.T, url, id string) string {
	resp, err := http.Get(url + "/_emulator/sessions")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var sessions []struct {
		ID     string `json:"id"`
		SHA256 string `json:"sha256"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&sessions); err != nil {
		t.Fatal(err)
	}
	for _, s := range sessions {
		if s.ID == id {
			return s.SHA256
		}
	}
	t.Fatalf("session %s not on the server", id)
	return ""
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
	if got := serverSHA(t, url, s.ID()); got != sum {
		t.Errorf("server has %s, file is %s", got, sum)
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
	if got := serverSHA(t, url, id); got != sum {
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
