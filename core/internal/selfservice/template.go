package selfservice

import (
	"errors"
	"fmt"
	"strings"
	"text/template"
	"time"
)

// Template is an e-mail: a subject and a plain text, both Go
// text/template over [TemplateData].
type Template struct {
	Subject string `json:"subject"`
	Text    string `json:"text"`
}

// Templates are a project's three e-mails.
type Templates struct {
	// Invitation carries the link.
	Invitation Template `json:"invitation"`
	// Done is sent when the user's migration ended (done or partial).
	Done Template `json:"done"`
	// Failed is sent when it failed; it says what to do.
	Failed Template `json:"failed"`
}

// TemplateData is what a template can use: {{.Login}}, {{.Address}}…
type TemplateData struct {
	// Login is the user's login on the source server (the mailbox).
	Login string
	// Address is the target address the mailbox moves to.
	Address string
	// Server is the source server's name (its host).
	Server string
	// Link is the user's self-service link.
	Link string
	// Expires is when the link stops working, written out.
	Expires string
	// Project is the migration project's name.
	Project string
	// Copied is the number of messages copied (done and failed mails).
	Copied int64
	// Reason says in plain words why the migration failed (failed mail).
	Reason string
}

// SampleData is the data of previews and of template validation.
func SampleData() TemplateData {
	return TemplateData{
		Login: "jane.doe@old.example", Address: "jane.doe@new.example", Server: "imap.old.example",
		Link: "https://tern.example" + LinkPath + "EXAMPLE-LINK", Expires: formatExpiry(time.Date(2030, 1, 15, 18, 0, 0, 0, time.UTC)),
		Project: "Old to new", Copied: 1234, Reason: reasonAuth,
	}
}

// formatExpiry writes a link's expiry for people.
func formatExpiry(t time.Time) string { return t.Format("Monday 2 January 2006, 15:04 MST") }

// DefaultTemplates are the templates of a project that has not changed
// them.
func DefaultTemplates() Templates {
	return Templates{
		Invitation: Template{
			Subject: "Your mailbox is moving: please start your migration",
			Text: `Hello,

your mailbox {{.Login}} on {{.Server}} is moving to {{.Address}}.

To start the move, open this link and enter the password you use on {{.Server}}:

{{.Link}}

The link works until {{.Expires}}. Once the password is accepted, your mail is copied by itself: you can close the page, and you will get an e-mail when it is done. Your password is used only to copy your mail and is deleted after the move.

If you did not expect this message, ask your administrator before you open the link.

-- 
Mail migration "{{.Project}}"
`,
		},
		Done: Template{
			Subject: "Your mailbox has been moved",
			Text: `Hello,

your mailbox {{.Login}} on {{.Server}} has been copied to {{.Address}}: {{.Copied}} messages copied.

You can see the status at {{.Link}} until {{.Expires}}.

-- 
Mail migration "{{.Project}}"
`,
		},
		Failed: Template{
			Subject: "Your mailbox could not be moved",
			Text: `Hello,

the move of your mailbox {{.Login}} on {{.Server}} to {{.Address}} stopped: {{.Reason}}

What to do: open the link again and enter your current password for {{.Server}}; the move then goes on where it stopped.

{{.Link}}

The link works until {{.Expires}}. After that, or if it keeps failing, ask your administrator for a new invitation.

-- 
Mail migration "{{.Project}}"
`,
		},
	}
}

// Limits of a template.
const (
	maxSubject = 200
	maxText    = 20000
)

// Render executes the template with d; the subject is one line.
func (t Template) Render(d TemplateData) (subject, text string, err error) {
	subject, err = execute("subject", t.Subject, d)
	if err != nil {
		return "", "", err
	}
	if text, err = execute("text", t.Text, d); err != nil {
		return "", "", err
	}
	subject = strings.TrimSpace(subject)
	if strings.ContainsAny(subject, "\r\n") {
		return "", "", errors.New("subject: it must be one line")
	}
	if subject == "" || strings.TrimSpace(text) == "" {
		return "", "", errors.New("the subject and the text cannot be empty")
	}
	return subject, text, nil
}

func execute(name, src string, d TemplateData) (string, error) {
	tm, err := template.New(name).Option("missingkey=error").Parse(src)
	if err != nil {
		return "", fmt.Errorf("%s: %v", name, cleanTemplateError(err))
	}
	var b strings.Builder
	if err := tm.Execute(&b, d); err != nil {
		return "", fmt.Errorf("%s: %v", name, cleanTemplateError(err))
	}
	return b.String(), nil
}

// cleanTemplateError drops text/template's "template: name:" prefix and
// names the unknown field in words an admin reads.
func cleanTemplateError(err error) string {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "template: ")
	if i := strings.Index(msg, "can't evaluate field "); i >= 0 {
		f, _, _ := strings.Cut(msg[i+len("can't evaluate field "):], " ")
		return "there is no {{." + f + "}}: use .Login, .Address, .Server, .Link, .Expires, .Project, .Copied or .Reason"
	}
	return msg
}

// Validate parses and executes the template with sample data.
func (t Template) Validate() error {
	if len(t.Subject) > maxSubject {
		return fmt.Errorf("subject: at most %d characters", maxSubject)
	}
	if len(t.Text) > maxText {
		return fmt.Errorf("text: at most %d characters", maxText)
	}
	_, _, err := t.Render(SampleData())
	return err
}

// Validate checks the three templates; the invitation must carry the
// link.
func (ts Templates) Validate() error {
	for _, x := range []struct {
		name string
		t    Template
	}{{"invitation", ts.Invitation}, {"done", ts.Done}, {"failed", ts.Failed}} {
		if err := x.t.Validate(); err != nil {
			return fmt.Errorf("%s e-mail: %v", x.name, err)
		}
	}
	if _, text, _ := ts.Invitation.Render(SampleData()); !strings.Contains(text, SampleData().Link) {
		return errors.New("invitation e-mail: the text must contain the link ({{.Link}})")
	}
	return nil
}

// Rendered is a rendered e-mail (a preview).
type Rendered struct {
	Name    string `json:"name"`
	Subject string `json:"subject"`
	Text    string `json:"text"`
	Error   string `json:"error,omitempty"`
}

// Preview renders the three templates with sample data.
func (ts Templates) Preview() []Rendered {
	var out []Rendered
	for _, x := range []struct {
		name string
		t    Template
	}{{"invitation", ts.Invitation}, {"done", ts.Done}, {"failed", ts.Failed}} {
		r := Rendered{Name: x.name}
		var err error
		if r.Subject, r.Text, err = x.t.Render(SampleData()); err != nil {
			r.Error = err.Error()
		}
		out = append(out, r)
	}
	return out
}
