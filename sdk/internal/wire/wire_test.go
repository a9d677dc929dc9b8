package wire

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/ternmail/tern/sdk/connector"
)

func TestErrorsSurviveTheWire(t *testing.T) {
	kinds := []error{connector.ErrAuth, connector.ErrNotFound, connector.ErrTooLarge, connector.ErrPermanent,
		connector.ErrTemporary, connector.ErrInvalid, connector.ErrUnsupported, connector.ErrUnavailable}
	for _, sentinel := range kinds {
		in := connector.Wrap(connector.KindOf(sentinel), "op failed", errors.New("cause"))
		out := FromStatus(ToStatus(in))
		if !errors.Is(out, sentinel) || out.Error() != in.Error() {
			t.Errorf("%v: came back as %v (%q)", sentinel, connector.KindOf(out), out.Error())
		}
	}
	out := FromStatus(ToStatus(connector.Throttled(1500*time.Millisecond, "slow down")))
	if !errors.Is(out, connector.ErrThrottled) || connector.RetryAfter(out) != 1500*time.Millisecond {
		t.Errorf("throttled came back as %v retry %v", out, connector.RetryAfter(out))
	}
	if out := FromStatus(ToStatus(errors.New("plain"))); connector.KindOf(out) != connector.KindUnknown || !connector.IsTemporary(out) {
		t.Errorf("unclassified came back as %v", out)
	}
	if ToStatus(nil) != nil || FromStatus(nil) != nil {
		t.Errorf("nil not kept")
	}
	if out := FromStatus(ToStatus(context.DeadlineExceeded)); !errors.Is(out, context.DeadlineExceeded) {
		t.Errorf("deadline came back as %v", out)
	}
}

func chunks(data []byte, size int) (offsets []int64, parts [][]byte) {
	for off := 0; off < len(data); off += size {
		end := min(off+size, len(data))
		offsets = append(offsets, int64(off))
		parts = append(parts, data[off:end])
	}
	return
}

func recvFrom(offsets []int64, parts [][]byte) RecvFunc {
	i := 0
	return func() (int64, []byte, error) {
		if i >= len(parts) {
			return 0, nil, io.EOF
		}
		i++
		return offsets[i-1], parts[i-1], nil
	}
}

func TestChunkReader(t *testing.T) {
	data := bytes.Repeat([]byte("abcdefghij"), 1000)
	offs, parts := chunks(data, 777)
	r := NewChunkReader(int64(len(data)), parts[0], recvFrom(offs[1:], parts[1:]))
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("reassembled %d bytes, err %v", len(got), err)
	}
	// Out of order.
	offs2 := append([]int64(nil), offs...)
	offs2[3], offs2[4] = offs2[4], offs2[3]
	parts2 := append([][]byte(nil), parts...)
	parts2[3], parts2[4] = parts2[4], parts2[3]
	if _, err := io.ReadAll(NewChunkReader(int64(len(data)), parts2[0], recvFrom(offs2[1:], parts2[1:]))); !errors.Is(err, connector.ErrPermanent) {
		t.Errorf("out-of-order chunks: %v", err)
	}
	// Short stream.
	if _, err := io.ReadAll(NewChunkReader(int64(len(data)), parts[0], recvFrom(offs[1:3], parts[1:3]))); !errors.Is(err, connector.ErrUnavailable) {
		t.Errorf("short stream: %v", err)
	}
	// Longer than announced.
	if _, err := io.ReadAll(NewChunkReader(int64(len(data)-1), parts[0], recvFrom(offs[1:], parts[1:]))); !errors.Is(err, connector.ErrPermanent) {
		t.Errorf("long stream: %v", err)
	}
}

func TestSendChunks(t *testing.T) {
	data := bytes.Repeat([]byte("x"), 5*1024+3)
	var sizes []int
	var firsts int
	buf := make([]byte, 1024)
	err := SendChunks(bytes.NewReader(data), int64(len(data)), buf, func(first bool, off int64, d []byte) error {
		if first {
			firsts++
		}
		if off != int64(len(sizes)*1024) {
			t.Errorf("chunk %d at offset %d", len(sizes), off)
		}
		sizes = append(sizes, len(d))
		return nil
	})
	if err != nil || len(sizes) != 6 || sizes[5] != 3 || firsts != 1 {
		t.Fatalf("sizes %v firsts %d err %v", sizes, firsts, err)
	}
	// An empty body still sends its metadata chunk.
	n := 0
	if err := SendChunks(bytes.NewReader(nil), 0, buf, func(first bool, _ int64, d []byte) error { n++; return nil }); err != nil || n != 1 {
		t.Fatalf("empty body: %d chunks, %v", n, err)
	}
	// Bodies that lie about their size are refused.
	if err := SendChunks(bytes.NewReader(data), int64(len(data))+1, buf, func(bool, int64, []byte) error { return nil }); err == nil {
		t.Fatal("short body accepted")
	}
	if err := SendChunks(bytes.NewReader(data), int64(len(data))-1, buf, func(bool, int64, []byte) error { return nil }); err == nil {
		t.Fatal("long body accepted")
	}
}

func TestChunkSize(t *testing.T) {
	for in, want := range map[int64]int{0: DefaultChunkSize, 10: MinChunkSize, 1 << 30: MaxChunkSize, 200 << 10: 200 << 10} {
		if got := ChunkSize(in); got != want {
			t.Errorf("ChunkSize(%d) = %d, want %d", in, got, want)
		}
	}
	if MaxChunkSize+64<<10 > MaxMessageSize {
		t.Errorf("a maximal chunk does not fit in a gRPC message")
	}
}

// The Go constants must match the frozen proto file's header.
func TestProtocolVersionMatchesProto(t *testing.T) {
	b, err := os.ReadFile("../proto/v1/connector.proto")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`Protocol version: (\d+)\.(\d+)`).FindSubmatch(b)
	if m == nil {
		t.Fatal("no version line in connector.proto")
	}
	if string(m[1]) != strconv.Itoa(connector.ProtocolVersion) || string(m[2]) != strconv.Itoa(connector.ProtocolVersionMinor) {
		t.Fatalf("proto says %s.%s, Go says %d.%d", m[1], m[2], connector.ProtocolVersion, connector.ProtocolVersionMinor)
	}
}
