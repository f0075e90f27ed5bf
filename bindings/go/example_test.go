package fbup_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	fbup "github.com/fbup/fbup/bindings/go"
)

// Upload a file and print its handle; errors.As reaches what Graph said.
func ExampleUpload() {
	cfg := fbup.Config{
		AppID:        "1234567890",
		AccessToken:  "EAAB...",                   // from a secret store, never from the command line
		GraphURL:     os.Getenv("FBUP_GRAPH_URL"), // "" means Graph itself
		StallTimeout: 30 * time.Second,
		MaxSendRate:  10 << 20, // 10 MiB/s at most
	}
	_, err := fbup.Upload(context.Background(), cfg, "no-such-video.mp4", nil)
	var e *fbup.Error
	if errors.As(err, &e) {
		fmt.Println(e.Status.Name(), errors.Is(err, fbup.ErrFile))
	}
	// Output: FBUP_E_FILE true
}

// A context's deadline governs every call, Create included.
func ExampleCreate_deadline() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	<-ctx.Done()
	_, err := fbup.Create(ctx, fbup.Config{AppID: "1234567890", AccessToken: "EAAB..."}, "video.mp4")
	fmt.Println(errors.Is(err, context.DeadlineExceeded))
	// Output: true
}

// Resume an upload that an earlier run could not finish: the error names the session.
func ExampleResume() {
	ctx := context.Background()
	cfg := fbup.Config{AppID: "1234567890", AccessToken: "EAAB..."}
	s, err := fbup.Resume(ctx, cfg, "no-such-video.mp4", "upload:MTphdHRhY2htZW50?sig=ARZx")
	var e *fbup.Error
	if errors.As(err, &e) {
		fmt.Println(e.Status.Name())
		return
	}
	defer s.Close()
	handle, err := s.Upload(ctx, nil)
	fmt.Println(handle, err)
	// Output: FBUP_E_FILE
}

// Many files over one pool of connections: a client, and a session per file. A
// context bounds each call, never the session: the offset below is asked after the
// create's deadline has passed.
func ExampleNewClient() {
	client, err := fbup.NewClient(fbup.Config{AppID: "1234567890", AccessToken: "EAAB..."})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()
	for _, path := range []string{"no-such-a.png", "no-such-b.png"} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		s, err := client.Create(ctx, path)
		cancel()
		if errors.Is(err, fs.ErrNotExist) {
			fmt.Println(path, "is missing")
			continue
		}
		if err != nil {
			fmt.Println(err)
			continue
		}
		held, err := s.Offset(context.Background())
		fmt.Println(held, err)
		s.Close()
	}
	// Output:
	// no-such-a.png is missing
	// no-such-b.png is missing
}
