package testserver

import (
	"fmt"
	"slices"
	"strings"
)

// Differences is the outcome of comparing a source and a target snapshot.
// Counts are in messages.
type Differences struct {
	// MissingFolders are expected target folders that do not exist;
	// ExtraFolders exist on the target without a source folder mapped to
	// them (an empty INBOX is never extra: IMAP servers always have one).
	MissingFolders, ExtraFolders []string
	// Missing: source messages (copies) absent from the target, including
	// those of missing folders. Duplicates: extra copies on the target of a
	// source message. Extra: target messages whose content is not in the
	// source folder. Mismatched: messages present on both sides whose
	// INTERNALDATE (DateMismatch) or flags (FlagMismatch) differ.
	Missing, Duplicates, Extra, Mismatched, DateMismatch, FlagMismatch int
	// Lines describe every difference for people, one kind per folder and
	// line, with a few examples each.
	Lines []string
}

// Equal reports whether the snapshots were equal.
func (d *Differences) Equal() bool { return len(d.Lines) == 0 }

// Messages is the number of messages that differ in any way.
func (d *Differences) Messages() int { return d.Missing + d.Duplicates + d.Extra + d.Mismatched }

// maxExamples bounds the examples per line of a difference report.
const maxExamples = 4

// Compare returns the differences between a source and a target snapshot
// in human-readable form; an empty slice means the target holds exactly
// the source's messages: per folder, the same multiset of contents, each
// copy with the same INTERNALDATE and flags. folderMap maps a source
// folder's logical name to the target's (nil: the same name); several
// source folders may map to one target folder.
func Compare(src, dst Mailbox, folderMap func(string) string) []string {
	return Diff(src, dst, folderMap).Lines
}

// Diff is Compare with counts.
func Diff(src, dst Mailbox, folderMap func(string) string) *Differences {
	if folderMap == nil {
		folderMap = func(s string) string { return s }
	}
	d := &Differences{Lines: []string{}}
	// Expected target folders, with the source folders mapped to each.
	want := map[string][]string{}
	recs := map[string][]Record{}
	var order []string
	for _, f := range src {
		to := folderMap(f.Name)
		if _, ok := want[to]; !ok {
			order = append(order, to)
		}
		want[to] = append(want[to], f.Name)
		recs[to] = append(recs[to], f.Messages...)
	}
	slices.Sort(order)
	for _, to := range order {
		label := folderLabel(to, want[to])
		tf := dst.Folder(to)
		if tf == nil {
			d.MissingFolders = append(d.MissingFolders, to)
			d.Missing += len(recs[to])
			d.Lines = append(d.Lines, fmt.Sprintf("missing folder %s (%d messages)", label, len(recs[to])))
			continue
		}
		d.compareFolder(label, recs[to], tf.Messages)
	}
	for _, f := range dst {
		if _, ok := want[f.Name]; ok || (f.Name == "INBOX" && len(f.Messages) == 0) {
			continue
		}
		d.ExtraFolders = append(d.ExtraFolders, f.Name)
		d.Extra += len(f.Messages)
		d.Lines = append(d.Lines, fmt.Sprintf("extra folder %q on target (%d messages)", f.Name, len(f.Messages)))
	}
	return d
}

func folderLabel(to string, from []string) string {
	if len(from) == 1 && from[0] == to {
		return fmt.Sprintf("%q", to)
	}
	q := make([]string, len(from))
	for i, f := range from {
		q[i] = fmt.Sprintf("%q", f)
	}
	return fmt.Sprintf("%q (from %s)", to, strings.Join(q, ", "))
}

// report collects one kind of difference in one folder.
type report struct {
	n        int
	examples []string
}

func (r *report) add(s string) {
	r.n++
	if len(r.examples) < maxExamples {
		r.examples = append(r.examples, s)
	}
}

func (r *report) line(folder, what string, total int) string {
	s := fmt.Sprintf("folder %s: %d of %d messages %s: %s", folder, r.n, total, what, strings.Join(r.examples, "; "))
	if r.n > len(r.examples) {
		s += fmt.Sprintf("; and %d more", r.n-len(r.examples))
	}
	return s
}

func (d *Differences) compareFolder(label string, src, dst []Record) {
	bySum := func(rs []Record) map[string][]Record {
		m := map[string][]Record{}
		for _, r := range rs {
			k := r.SHA256
			m[k] = append(m[k], r)
		}
		return m
	}
	s, t := bySum(src), bySum(dst)
	keys := make([]string, 0, len(s)+len(t))
	for k := range s {
		keys = append(keys, k)
	}
	for k := range t {
		if _, ok := s[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var missing, dup, extra, date, flags report
	for _, k := range keys {
		sr, tr := s[k], t[k]
		// Take out copies that agree in everything.
		var sRest []Record
		tUsed := make([]bool, len(tr))
		for _, r := range sr {
			found := false
			for j, o := range tr {
				if !tUsed[j] && o.compare(r) == 0 {
					tUsed[j], found = true, true
					break
				}
			}
			if !found {
				sRest = append(sRest, r)
			}
		}
		var tRest []Record
		for j, r := range tr {
			if !tUsed[j] {
				tRest = append(tRest, r)
			}
		}
		// Pair the rest in order: same content, other date or flags.
		n := min(len(sRest), len(tRest))
		for i := range n {
			a, b := sRest[i], tRest[i]
			d.Mismatched++
			if !a.InternalDate.Equal(b.InternalDate) {
				d.DateMismatch++
				date.add(fmt.Sprintf("sha256 %s… %s on source, %s on target", a.SHA256[:12],
					a.InternalDate.Format("2006-01-02 15:04:05Z"), b.InternalDate.Format("2006-01-02 15:04:05Z")))
			}
			if !slices.Equal(a.Flags, b.Flags) {
				d.FlagMismatch++
				flags.add(fmt.Sprintf("sha256 %s… (%s) on source, (%s) on target", a.SHA256[:12],
					strings.Join(a.Flags, " "), strings.Join(b.Flags, " ")))
			}
		}
		for _, r := range sRest[n:] {
			d.Missing++
			missing.add(r.String())
		}
		for _, r := range tRest[n:] {
			if len(sr) > 0 {
				d.Duplicates++
				dup.add(fmt.Sprintf("%s (%d on source, %d on target)", r, len(sr), len(tr)))
			} else {
				d.Extra++
				extra.add(r.String())
			}
		}
	}
	for _, x := range []struct {
		r     *report
		what  string
		total int
	}{
		{&missing, "missing on target", len(src)},
		{&dup, "duplicated on target (extra copies)", len(src)},
		{&extra, "on target but not in source", len(dst)},
		{&date, "with another INTERNALDATE", len(src)},
		{&flags, "with other flags", len(src)},
	} {
		if x.r.n > 0 {
			d.Lines = append(d.Lines, x.r.line(label, x.what, x.total))
		}
	}
}
