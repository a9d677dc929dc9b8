package gmailconn

import (
	"slices"
	"strings"

	"github.com/ternmail/tern/sdk/connector"
)

// flagPlan is what a message's IMAP flags become on Gmail.
type flagPlan struct {
	// system are the system labels to set (UNREAD, STARRED).
	system []string
	// keywords are user label names (mapped) for keywords.
	keywords []string
	// dropped are the flags Gmail cannot keep.
	dropped []string
	seen    bool
	flagged bool
}

// MapFlags maps IMAP flags to Gmail labels: no \Seen → UNREAD, \Flagged
// → STARRED; keywords → user labels named prefix+keyword when keyword
// labels are on; everything else (\Answered, \Draft, \Deleted, keywords
// otherwise) is dropped, and the report says so per message.
func MapFlags(flags []string, set *Settings) flagPlan {
	var p flagPlan
	for _, f := range flags {
		switch {
		case strings.EqualFold(f, connector.FlagSeen):
			p.seen = true
		case strings.EqualFold(f, connector.FlagFlagged):
			p.flagged = true
		case strings.EqualFold(f, `\Recent`) || f == "":
		case strings.HasPrefix(f, `\`):
			p.dropped = append(p.dropped, f)
		case set.KeywordLabels:
			n, _ := LabelName(set.KeywordPrefix+f, "", set)
			p.keywords = append(p.keywords, n)
		default:
			p.dropped = append(p.dropped, f)
		}
	}
	if !p.seen {
		p.system = append(p.system, labelUnread)
	}
	if p.flagged {
		p.system = append(p.system, labelStarred)
	}
	slices.Sort(p.keywords)
	p.keywords = slices.Compact(p.keywords)
	return p
}

// flagsOf maps a message's labels back to IMAP flags: no UNREAD → \Seen,
// STARRED → \Flagged, DRAFT → \Draft, and with keyword labels on, labels
// under the keyword prefix → keywords.
func flagsOf(labelIDs []string, names func(id string) string, set *Settings) []string {
	flags := []string{}
	if !slices.Contains(labelIDs, labelUnread) {
		flags = append(flags, connector.FlagSeen)
	}
	if slices.Contains(labelIDs, labelStarred) {
		flags = append(flags, connector.FlagFlagged)
	}
	if slices.Contains(labelIDs, labelDraft) {
		flags = append(flags, connector.FlagDraft)
	}
	if set.KeywordLabels && names != nil {
		for _, id := range labelIDs {
			if n := names(id); n != "" && strings.HasPrefix(n, set.KeywordPrefix) && len(n) > len(set.KeywordPrefix) {
				flags = append(flags, n[len(set.KeywordPrefix):])
			}
		}
	}
	return flags
}

// isFlagLabel says whether a label stands for a flag rather than a
// folder.
func isFlagLabel(id, name string, set *Settings) bool {
	switch id {
	case labelUnread, labelStarred, "IMPORTANT", "CHAT":
		return true
	}
	if strings.HasPrefix(id, "CATEGORY_") {
		return true
	}
	return set.KeywordLabels && name != "" && strings.HasPrefix(name, set.KeywordPrefix)
}

// primaryFolder is the one folder a message is listed in on a source:
// TRASH, then SPAM, INBOX, SENT, DRAFT, then the first user label by
// name (not counting keyword labels), else the Archive folder. name
// resolves user label IDs to names ("" for others).
func primaryFolder(labelIDs []string, name func(id string) string, set *Settings) string {
	for _, sys := range []string{labelTrash, labelSpam, labelInbox, labelSent, labelDraft} {
		if slices.Contains(labelIDs, sys) {
			return sys
		}
	}
	best := ""
	for _, id := range labelIDs {
		n := name(id)
		if n == "" || isFlagLabel(id, n, set) {
			continue
		}
		if best == "" || n < best {
			best = n
		}
	}
	if best == "" {
		return archiveFolder
	}
	return best
}
