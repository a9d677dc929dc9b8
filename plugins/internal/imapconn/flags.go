package imapconn

import (
	"strings"

	"github.com/emersion/go-imap/v2"
)

// systemFlags are the flags of RFC 9051 §2.3.2 that a client may set
// (\Recent is the server's business), in canonical case.
var systemFlags = []imap.Flag{imap.FlagSeen, imap.FlagAnswered, imap.FlagFlagged, imap.FlagDeleted, imap.FlagDraft}

// flagFilter says which flags a folder keeps, from the PERMANENTFLAGS its
// SELECT reported (RFC 9051 §7.1): the flags listed there, and keywords of
// any name when it lists \*. A server that sends no PERMANENTFLAGS lets
// the client change all flags permanently (RFC 3501 §7.1). One that lists
// \* but leaves system flags out (go-imap's imapmemserver lists only the
// flags its messages use) is taken to keep system flags too: a server that
// stores any keyword stores \Seen. go-imap reports an empty PERMANENTFLAGS
// as nil, like a missing one, so both let every flag through.
type flagFilter struct {
	known    bool
	wildcard bool
	allowed  map[string]bool // lower case
}

func newFlagFilter(sd *imap.SelectData) flagFilter {
	if sd == nil || sd.PermanentFlags == nil {
		return flagFilter{}
	}
	f := flagFilter{known: true, allowed: make(map[string]bool)}
	for _, fl := range sd.PermanentFlags {
		if fl == imap.FlagWildcard {
			f.wildcard = true
			continue
		}
		f.allowed[strings.ToLower(string(fl))] = true
	}
	return f
}

// filter splits flags into those to send and those the folder would not
// keep: \Recent (never sent; the server sets it), malformed flags (the
// client library would break the connection on them), unknown system
// flags, and keywords the PERMANENTFLAGS do not allow. Duplicates (IMAP
// flags are case-insensitive) are sent once.
func (f flagFilter) filter(in []string) (kept []imap.Flag, dropped []string) {
	seen := make(map[string]bool, len(in))
	for _, fl := range in {
		lower := strings.ToLower(fl)
		if fl == "" || seen[lower] {
			continue
		}
		seen[lower] = true
		switch {
		case lower == `\recent`, !validFlag(fl):
			dropped = append(dropped, fl)
		case strings.HasPrefix(fl, `\`):
			sys, ok := systemFlag(fl)
			if !ok || (f.known && !f.wildcard && !f.allowed[lower]) {
				dropped = append(dropped, fl)
				continue
			}
			kept = append(kept, sys)
		default:
			if f.known && !f.wildcard && !f.allowed[lower] {
				dropped = append(dropped, fl)
				continue
			}
			kept = append(kept, imap.Flag(fl))
		}
	}
	return kept, dropped
}

func systemFlag(fl string) (imap.Flag, bool) {
	for _, s := range systemFlags {
		if strings.EqualFold(fl, string(s)) {
			return s, true
		}
	}
	return "", false
}

// validFlag reports whether fl is a flag the wire can carry: an atom
// (RFC 9051 §9 atom-char), optionally after one leading backslash.
func validFlag(fl string) bool {
	s := strings.TrimPrefix(fl, `\`)
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f {
			return false
		}
		switch c {
		case '(', ')', '{', '%', '*', '"', '\\', ']':
			return false
		}
	}
	return true
}

// listFlags converts fetched flags for a Message, without \Recent (a
// property of the session, not of the message).
func listFlags(in []imap.Flag) []string {
	out := make([]string, 0, len(in))
	for _, f := range in {
		if strings.EqualFold(string(f), `\Recent`) {
			continue
		}
		out = append(out, string(f))
	}
	return out
}
