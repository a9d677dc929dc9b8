package engine

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/ternmail/tern/sdk/connector"
)

// Rules decide which folders are migrated and what they are called on the
// target. Paths in rules are logical: components joined with "/" whatever
// the servers' delimiters, without namespace prefix, INBOX spelled "INBOX".
type Rules struct {
	// Include lists glob patterns (path.Match syntax, applied to the whole
	// logical path; "Work/*" matches direct children, "Work/**" every
	// descendant). Empty means every folder.
	Include []string
	// Exclude lists glob patterns of folders not to migrate; it wins over
	// Include.
	Exclude []string
	// Rename maps a logical path (and its descendants) to another, e.g.
	// {"Old Mail": "Archive/Old Mail"}. The longest matching From wins.
	Rename []Rename
	// NoSpecialUse turns off mapping special-use folders (\Sent, \Drafts,
	// \Trash, \Junk, \Archive) to the target's folders of the same use.
	NoSpecialUse bool
}

// Rename is one rename rule.
type Rename struct {
	From, To string
}

// FolderPlan is one source folder and where it goes.
type FolderPlan struct {
	// Source is the source folder's full name.
	Source string
	// Logical is its logical path.
	Logical string
	// Target is the full target folder name.
	Target string
	// SpecialUse is the special use the target folder should have.
	SpecialUse string
	// Notes explain mapping decisions worth a line in the report.
	Notes []string
}

// Plan is the folder mapping of a mailbox.
type Plan struct {
	Folders []FolderPlan
	// Excluded lists the logical paths left out by the rules.
	Excluded []string
}

// defaultSpecialNames are the names of special-use folders on a target
// that has none of that use yet.
var defaultSpecialNames = map[string]string{
	connector.SpecialSent:    "Sent",
	connector.SpecialDrafts:  "Drafts",
	connector.SpecialTrash:   "Trash",
	connector.SpecialJunk:    "Junk",
	connector.SpecialArchive: "Archive",
}

// wellKnownNames recognises special-use folders on servers that do not
// announce SPECIAL-USE, by their usual top-level names (lower case).
var wellKnownNames = map[string]string{
	"sent": connector.SpecialSent, "sent items": connector.SpecialSent, "sent messages": connector.SpecialSent,
	"sent mail": connector.SpecialSent, "gesendet": connector.SpecialSent, "gesendete objekte": connector.SpecialSent,
	"envoyés": connector.SpecialSent, "drafts": connector.SpecialDrafts, "entwürfe": connector.SpecialDrafts,
	"brouillons": connector.SpecialDrafts, "trash": connector.SpecialTrash, "deleted items": connector.SpecialTrash,
	"deleted messages": connector.SpecialTrash, "papierkorb": connector.SpecialTrash, "corbeille": connector.SpecialTrash,
	"junk": connector.SpecialJunk, "spam": connector.SpecialJunk, "junk e-mail": connector.SpecialJunk,
	"junk email": connector.SpecialJunk, "archive": connector.SpecialArchive, "archives": connector.SpecialArchive,
}

// mappedSpecialUses are the special uses mapped between servers. \All and
// \Flagged are virtual on most servers and migrate as ordinary folders.
var mappedSpecialUses = []string{connector.SpecialSent, connector.SpecialDrafts, connector.SpecialTrash, connector.SpecialJunk, connector.SpecialArchive}

// Logical returns a folder's logical path in hierarchy h.
func Logical(h *connector.Hierarchy, f connector.Folder) []string {
	name := f.Name
	if strings.EqualFold(name, "INBOX") {
		return []string{"INBOX"}
	}
	if h.Prefix != "" && strings.HasPrefix(name, h.Prefix) && len(name) > len(h.Prefix) {
		name = name[len(h.Prefix):]
	}
	d := f.Delimiter
	if d == "" {
		d = h.Delimiter
	}
	if d == "" {
		return []string{name}
	}
	parts := strings.Split(name, d)
	if strings.EqualFold(parts[0], "INBOX") {
		parts[0] = "INBOX"
	}
	return parts
}

// Physical returns the full name of a logical path in hierarchy h,
// replacing the target's delimiter inside a component with "_".
func Physical(h *connector.Hierarchy, logical []string) (string, []string) {
	if len(logical) == 1 && logical[0] == "INBOX" {
		return "INBOX", nil
	}
	d := h.Delimiter
	var notes []string
	parts := make([]string, len(logical))
	for i, p := range logical {
		if d != "" && strings.Contains(p, d) {
			q := strings.ReplaceAll(p, d, "_")
			notes = append(notes, fmt.Sprintf("folder name component %q contains the target's hierarchy delimiter %q; stored as %q", p, d, q))
			p = q
		}
		parts[i] = p
	}
	if d == "" {
		d = "/"
	}
	name := strings.Join(parts, d)
	// Children of INBOX keep their place; everything else gets the prefix.
	if h.Prefix != "" && !(len(parts) > 1 && parts[0] == "INBOX" && strings.HasPrefix(h.Prefix, "INBOX")) {
		name = h.Prefix + name
	}
	return name, notes
}

func matchAny(patterns []string, p string) bool {
	for _, pat := range patterns {
		if strings.HasSuffix(pat, "/**") {
			base := strings.TrimSuffix(pat, "/**")
			if ok, _ := path.Match(base, p); ok {
				return true
			}
			for dir := path.Dir(p); dir != "." && dir != "/"; dir = path.Dir(dir) {
				if ok, _ := path.Match(base, dir); ok {
					return true
				}
			}
			continue
		}
		if ok, _ := path.Match(pat, p); ok {
			return true
		}
	}
	return false
}

// Validate checks the rules' patterns.
func (r *Rules) Validate() error {
	for _, list := range [][]string{r.Include, r.Exclude} {
		for _, p := range list {
			if _, err := path.Match(strings.TrimSuffix(p, "/**"), ""); err != nil {
				return fmt.Errorf("folder pattern %q: %v", p, err)
			}
		}
	}
	for _, rn := range r.Rename {
		if rn.From == "" || rn.To == "" {
			return fmt.Errorf("rename rule %q → %q: both sides are needed", rn.From, rn.To)
		}
	}
	return nil
}

func (r *Rules) rename(logical string) (string, bool) {
	best := -1
	for i, rn := range r.Rename {
		if logical == rn.From || strings.HasPrefix(logical, rn.From+"/") {
			if best < 0 || len(rn.From) > len(r.Rename[best].From) {
				best = i
			}
		}
	}
	if best < 0 {
		return logical, false
	}
	rn := r.Rename[best]
	return rn.To + strings.TrimPrefix(logical, rn.From), true
}

// MakePlan maps the folders of source hierarchy src onto target
// hierarchy dst.
func MakePlan(src, dst *connector.Hierarchy, rules *Rules) *Plan {
	if rules == nil {
		rules = &Rules{}
	}
	// The target's folders by special use.
	targetSpecial := map[string][]string{}
	for _, f := range dst.Folders {
		if f.SpecialUse != "" {
			if _, seen := targetSpecial[f.SpecialUse]; !seen {
				targetSpecial[f.SpecialUse] = Logical(dst, f)
			}
		}
	}
	// If the source announces special uses, trust them; otherwise
	// recognise the usual names.
	srcHasSpecial := slices.ContainsFunc(src.Folders, func(f connector.Folder) bool { return f.SpecialUse != "" })

	plan := &Plan{}
	for _, f := range src.Folders {
		if f.NoSelect {
			continue
		}
		logical := Logical(src, f)
		lp := strings.Join(logical, "/")
		if (len(rules.Include) > 0 && !matchAny(rules.Include, lp)) || matchAny(rules.Exclude, lp) {
			plan.Excluded = append(plan.Excluded, lp)
			continue
		}
		fp := FolderPlan{Source: f.Name, Logical: lp}
		special := f.SpecialUse
		if special == "" && !srcHasSpecial && len(logical) == 1 {
			special = wellKnownNames[strings.ToLower(logical[0])]
		}
		if !slices.Contains(mappedSpecialUses, special) {
			special = ""
		}
		target := logical
		if renamed, ok := rules.rename(lp); ok {
			target = strings.Split(renamed, "/")
			fp.Notes = append(fp.Notes, fmt.Sprintf("renamed by rule to %q", renamed))
		} else if special != "" && !rules.NoSpecialUse {
			if t, ok := targetSpecial[special]; ok {
				target = t
			} else {
				target = []string{defaultSpecialNames[special]}
			}
			if tl := strings.Join(target, "/"); tl != lp {
				fp.Notes = append(fp.Notes, fmt.Sprintf("special-use %s folder mapped to %q", special, tl))
			}
		}
		if special != "" && !rules.NoSpecialUse {
			fp.SpecialUse = special
		}
		var notes []string
		fp.Target, notes = Physical(dst, target)
		fp.Notes = append(fp.Notes, notes...)
		plan.Folders = append(plan.Folders, fp)
	}
	// Folders that end up in the same target folder are merged; say so.
	byTarget := map[string][]string{}
	for _, fp := range plan.Folders {
		byTarget[fp.Target] = append(byTarget[fp.Target], fp.Logical)
	}
	for i, fp := range plan.Folders {
		if others := byTarget[fp.Target]; len(others) > 1 {
			plan.Folders[i].Notes = append(plan.Folders[i].Notes, fmt.Sprintf("merged with %q into %q", others, fp.Target))
		}
	}
	return plan
}
