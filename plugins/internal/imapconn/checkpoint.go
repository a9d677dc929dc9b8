package imapconn

import (
	"fmt"
	"strconv"
	"strings"
)

// checkpoint is the state of a source folder at the start of a listing:
// UIDVALIDITY, UIDNEXT and HIGHESTMODSEQ (0 without CONDSTORE).
type checkpoint struct {
	validity uint32
	uidNext  uint32
	modSeq   uint64
}

const checkpointPrefix = "imap1:"

// String encodes the checkpoint as "imap1:<uidvalidity>:<uidnext>:<modseq>".
func (c checkpoint) String() string {
	return fmt.Sprintf("%s%d:%d:%d", checkpointPrefix, c.validity, c.uidNext, c.modSeq)
}

// parseCheckpoint decodes a checkpoint; ok is false for anything that is
// not one (core then gets a full listing, as the contract says).
func parseCheckpoint(b []byte) (c checkpoint, ok bool) {
	s, found := strings.CutPrefix(string(b), checkpointPrefix)
	if !found {
		return c, false
	}
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return c, false
	}
	v, err1 := strconv.ParseUint(parts[0], 10, 32)
	n, err2 := strconv.ParseUint(parts[1], 10, 32)
	m, err3 := strconv.ParseUint(parts[2], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || v == 0 || n == 0 {
		return c, false
	}
	return checkpoint{validity: uint32(v), uidNext: uint32(n), modSeq: m}, true
}

// watermark is a target folder's UIDVALIDITY and UIDNEXT before appends.
type watermark struct {
	validity uint32
	uidNext  uint32
}

// String encodes the watermark as "<uidvalidity>:<uidnext>".
func (w watermark) String() string { return fmt.Sprintf("%d:%d", w.validity, w.uidNext) }

func parseWatermark(s string) (w watermark, ok bool) {
	a, b, found := strings.Cut(s, ":")
	if !found {
		return w, false
	}
	v, err1 := strconv.ParseUint(a, 10, 32)
	n, err2 := strconv.ParseUint(b, 10, 32)
	if err1 != nil || err2 != nil || v == 0 || n == 0 {
		return w, false
	}
	return watermark{validity: uint32(v), uidNext: uint32(n)}, true
}

// parseUID parses a message ID (a UID in decimal).
func parseUID(id string) (uint32, bool) {
	n, err := strconv.ParseUint(id, 10, 32)
	if err != nil || n == 0 || strconv.FormatUint(n, 10) != id {
		return 0, false
	}
	return uint32(n), true
}
