package engine

import (
	"slices"
	"strings"
	"testing"

	"github.com/ternmail/tern/sdk/connector"
)

func hier(delim, prefix string, folders ...connector.Folder) *connector.Hierarchy {
	for i := range folders {
		if folders[i].Delimiter == "" {
			folders[i].Delimiter = delim
		}
	}
	return &connector.Hierarchy{Delimiter: delim, Prefix: prefix, Folders: folders}
}

func targets(p *Plan) map[string]string {
	m := map[string]string{}
	for _, f := range p.Folders {
		m[f.Source] = f.Target
	}
	return m
}

func TestPlanSeparatorsAndSpecialUse(t *testing.T) {
	src := hier(".", "",
		connector.Folder{Name: "INBOX"},
		connector.Folder{Name: "Entwürfe.Alt"},
		connector.Folder{Name: "Входящие.Отчёты"},
		connector.Folder{Name: "a/b"}, // a "/" inside a name on a "." server
		connector.Folder{Name: "Sent Items", SpecialUse: connector.SpecialSent},
		connector.Folder{Name: "Trash", SpecialUse: connector.SpecialTrash},
		connector.Folder{Name: "Parent", NoSelect: true},
		connector.Folder{Name: "All Mail", SpecialUse: connector.SpecialAll},
	)
	dst := hier("/", "", connector.Folder{Name: "INBOX"}, connector.Folder{Name: "Gesendet", SpecialUse: connector.SpecialSent})
	p := MakePlan(src, dst, nil)
	got := targets(p)
	want := map[string]string{
		"INBOX":           "INBOX",
		"Entwürfe.Alt":    "Entwürfe/Alt",
		"Входящие.Отчёты": "Входящие/Отчёты",
		"a/b":             "a_b",
		"Sent Items":      "Gesendet",
		"Trash":           "Trash",
		"All Mail":        "All Mail",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%q → %q, want %q", k, got[k], v)
		}
	}
	if _, ok := got["Parent"]; ok {
		t.Errorf("a \\Noselect folder was planned")
	}
	for _, f := range p.Folders {
		if f.Source == "Sent Items" && f.SpecialUse != connector.SpecialSent {
			t.Errorf("Sent Items lost its special use: %+v", f)
		}
		if f.Source == "a/b" && len(f.Notes) == 0 {
			t.Errorf("delimiter substitution not noted")
		}
	}
}

func TestPlanPrefixes(t *testing.T) {
	// A Courier/Maildir++ source with "INBOX." prefix to a target with none, and back.
	src := hier(".", "INBOX.", connector.Folder{Name: "INBOX"}, connector.Folder{Name: "INBOX.Work.2024"}, connector.Folder{Name: "INBOX.Sent"})
	dst := hier("/", "")
	got := targets(MakePlan(src, dst, nil))
	if got["INBOX.Work.2024"] != "Work/2024" || got["INBOX.Sent"] != "Sent" || got["INBOX"] != "INBOX" {
		t.Fatalf("prefix stripped wrongly: %v", got)
	}
	back := targets(MakePlan(hier("/", "", connector.Folder{Name: "Work/2024"}, connector.Folder{Name: "INBOX"}), hier(".", "INBOX."), nil))
	if back["Work/2024"] != "INBOX.Work.2024" || back["INBOX"] != "INBOX" {
		t.Fatalf("prefix added wrongly: %v", back)
	}
}

func TestPlanRulesAndWellKnownNames(t *testing.T) {
	src := hier("/", "",
		connector.Folder{Name: "INBOX"}, connector.Folder{Name: "Sent Messages"}, connector.Folder{Name: "Spam"},
		connector.Folder{Name: "Old/2019"}, connector.Folder{Name: "Old/2019/Q1"}, connector.Folder{Name: "Work"}, connector.Folder{Name: "Work/Tmp"},
	)
	rules := &Rules{Exclude: []string{"Work/Tmp"}, Rename: []Rename{{From: "Old", To: "Archive/Old"}, {From: "Old/2019/Q1", To: "Q1"}}}
	p := MakePlan(src, hier("/", ""), rules)
	got := targets(p)
	want := map[string]string{"Sent Messages": "Sent", "Spam": "Junk", "Old/2019": "Archive/Old/2019", "Old/2019/Q1": "Q1", "Work": "Work"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%q → %q, want %q", k, got[k], v)
		}
	}
	if !slices.Equal(p.Excluded, []string{"Work/Tmp"}) {
		t.Errorf("excluded %q", p.Excluded)
	}
	inc := MakePlan(src, hier("/", ""), &Rules{Include: []string{"INBOX", "Old/**"}})
	if len(inc.Folders) != 3 {
		t.Errorf("include INBOX and Old/**: %v", targets(inc))
	}
	if err := (&Rules{Exclude: []string{"a["}}).Validate(); err == nil || !strings.Contains(err.Error(), "a[") {
		t.Errorf("bad pattern accepted: %v", err)
	}
}

func TestPlanMergeNoted(t *testing.T) {
	src := hier("/", "", connector.Folder{Name: "Sent", SpecialUse: connector.SpecialSent}, connector.Folder{Name: "Sent Items"})
	p := MakePlan(src, hier("/", ""), nil)
	if got := targets(p); got["Sent"] != "Sent" || got["Sent Items"] != "Sent Items" {
		t.Fatalf("with special-use announced, only announced folders are mapped: %v", got)
	}
}

func TestNormFlags(t *testing.T) {
	got := normFlags([]string{`\SEEN`, `\Recent`, "$Label", `\seen`, `\Flagged`})
	if !slices.Equal(got, []string{"$Label", `\Flagged`, `\Seen`}) {
		t.Fatalf("normFlags = %q", got)
	}
}
