package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

const invitationsUsage = `Usage:
  tern invitations list PROJECT
  tern invitations send PROJECT [--users U1,U2 | --status new,failed | --all]
  tern invitations resend|revoke PROJECT USER

Self-service: each invited user gets an e-mail with a link where they enter
their own password; the migration then runs on the appliance. Sending
needs the outgoing mail server (console: System). These commands talk to
the running daemon (tern serve) through its API.
`

// invitation is what the API says of one invitation (never the link).
type invitation struct {
	User      string `json:"user"`
	Source    string `json:"source_user"`
	State     string `json:"state"`
	Recipient string `json:"recipient"`
	SentCount int    `json:"sent_count"`
	Reason    string `json:"reason,omitempty"`
	MailError string `json:"mail_error,omitempty"`
	Error     string `json:"error,omitempty"`
	Resent    bool   `json:"resent,omitempty"`
}

func runInvitations(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var users, statuses string
	var all bool
	af, fs, words, c, code := command("tern invitations", invitationsUsage, args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&users, "users", "", "with send: the users (`ids or source logins`, comma-separated)")
		fs.StringVar(&statuses, "status", "", "with send: every user of these `statuses` (comma-separated)")
		fs.BoolVar(&all, "all", false, "with send: every user of the project")
	})
	if code >= 0 {
		return code
	}
	name := "tern invitations " + words[0]
	want := map[string]int{"list": 2, "send": 2, "resend": 3, "revoke": 3}
	if n, ok := want[words[0]]; !ok || len(words) != n {
		fs.Usage()
		return 2
	}
	base := "/projects/" + pathEscape(words[1]) + "/invitations"
	var out []invitation
	switch words[0] {
	case "list":
		if err := c.do(ctx, "GET", base, nil, &out); err != nil {
			return fail(stderr, name, err)
		}
	case "send":
		body := map[string]any{"all": all}
		if users != "" {
			body["users"] = strings.Split(users, ",")
		}
		if statuses != "" {
			body["status"] = strings.Split(statuses, ",")
		}
		if err := c.do(ctx, "POST", base, body, &out); err != nil {
			return fail(stderr, name, err)
		}
	default: // resend, revoke
		var one invitation
		if err := c.do(ctx, "POST", base+"/"+pathEscape(words[2])+"/"+words[0], map[string]string{}, &one); err != nil {
			return fail(stderr, name, err)
		}
		out = []invitation{one}
	}
	if af.json {
		writeJSON(stdout, out)
	} else {
		tw := tabwriter.NewWriter(stdout, 2, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "USER\tRECIPIENT\tSTATE\tSENT\tNOTE")
		for _, i := range out {
			note := i.Error + i.MailError + i.Reason
			if i.Resent {
				note = "re-sent: the old link stops working " + note
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", i.Source, i.Recipient, i.State, i.SentCount, note)
		}
		tw.Flush()
	}
	for _, i := range out {
		if i.Error != "" {
			return 1
		}
	}
	return 0
}
