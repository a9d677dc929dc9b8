package mailer

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"
)

func TestCompose(t *testing.T) {
	s := &Settings{From: "tern@old.example", FromName: "Mail migration"}
	raw, err := Compose(s, Message{To: "Jürgen <juergen@old.example>", Subject: "Ihr Postfach zieht um", Text: "Hallo Jürgen,\nbitte klicken Sie:\nhttps://tern.example/s/abc\n"}, time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(bytes.ReplaceAll(raw, []byte("\r\n"), nil), []byte("\n")) {
		t.Fatal("bare LF in the message")
	}
	r, err := mail.CreateReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	subj, _ := r.Header.Subject()
	to, _ := r.Header.AddressList("To")
	from, _ := r.Header.AddressList("From")
	id, _ := r.Header.MessageID()
	if subj != "Ihr Postfach zieht um" || to[0].Address != "juergen@old.example" || from[0].Name != "Mail migration" || id == "" || r.Header.Get("Auto-Submitted") != "auto-generated" {
		t.Fatalf("header: %q %v %v %q", subj, to, from, id)
	}
	p, err := r.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(p.Body)
	if string(body) != "Hallo Jürgen,\r\nbitte klicken Sie:\r\nhttps://tern.example/s/abc\r\n" {
		t.Fatalf("body %q", body)
	}
	if _, err := Compose(s, Message{To: "not an address"}, time.Now()); err == nil {
		t.Fatal("a bad recipient was accepted")
	}
}

func TestValidate(t *testing.T) {
	ok := Settings{Host: "smtp.example", Port: 587, TLS: "starttls", From: "tern@example.com"}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mod := range map[string]func(*Settings){
		"no host":         func(s *Settings) { s.Host = "" },
		"bad port":        func(s *Settings) { s.Port = 70000 },
		"bad tls":         func(s *Settings) { s.TLS = "ssl" },
		"plain, not ok'd": func(s *Settings) { s.TLS = "none" },
		"bad sender":      func(s *Settings) { s.From = "tern" },
	} {
		s := ok
		mod(&s)
		if err := s.Validate(); err == nil {
			t.Errorf("%s: validated", name)
		} else if strings.Contains(err.Error(), "%!") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
