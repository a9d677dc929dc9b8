package gmailtest_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"reflect"
	"strings"
	"testing"

	"github.com/ternmail/tern/plugins/gmail/gmailtest"
)

func base64URLDecode(s string) ([]byte, error) { return base64.URLEncoding.DecodeString(s) }

// rawHTTP speaks to the emulator without the Go client.
type rawHTTP struct {
	t   *testing.T
	srv *gmailtest.Server
	c   *http.Client
}

func newRaw(t *testing.T, srv *gmailtest.Server, subject string, scopes ...string) rawHTTP {
	if len(scopes) == 0 {
		scopes = []string{gmailtest.ScopeMail}
	}
	return rawHTTP{t: t, srv: srv, c: srv.HTTPClient(subject, scopes...)}
}

type response struct {
	code   int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	return m
}

// do sends a request; headers are name, value pairs.
func (h rawHTTP) do(method, path string, body []byte, headers ...string) response {
	h.t.Helper()
	url := path
	if !strings.HasPrefix(path, "http") {
		url = h.srv.URL() + path
	}
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := h.c.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{res.StatusCode, res.Header, b}
}

// multipartBody builds what the Go client sends for uploadType=multipart.
func multipartBody(t *testing.T, meta string, mediaType string, raw []byte) ([]byte, string) {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	p, _ := w.CreatePart(textproto.MIMEHeader{"Content-Type": {"application/json; charset=UTF-8"}})
	p.Write([]byte(meta))
	p, _ = w.CreatePart(textproto.MIMEHeader{"Content-Type": {mediaType}})
	p.Write(raw)
	w.Close()
	return b.Bytes(), "multipart/related; boundary=" + w.Boundary()
}

// importMultipart posts one multipart import for user and returns the response.
func (h rawHTTP) importMultipart(user, query, meta string, raw []byte) response {
	h.t.Helper()
	body, ct := multipartBody(h.t, meta, "message/rfc822", raw)
	return h.do("POST", "/upload/gmail/v1/users/"+user+"/messages/import?uploadType=multipart"+query, body, "Content-Type", ct)
}

// wantError checks status, reason and (if not empty) message of a Google error body, and its shape.
func wantError(t *testing.T, r response, code int, reason, message string) {
	t.Helper()
	var body struct {
		Error struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
			Status  string `json:"status"`
			Errors  []struct {
				Domain, Reason, Message string
			} `json:"errors"`
		} `json:"error"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatalf("status %d, body %q is not a Google error: %v", r.code, r.body, err)
	}
	e := body.Error
	if r.code != code || e.Code != code || len(e.Errors) != 1 || e.Errors[0].Reason != reason || e.Status == "" || e.Errors[0].Domain == "" {
		t.Fatalf("want %d %s, got %d %s", code, reason, r.code, r.body)
	}
	if message != "" && (e.Message != message || e.Errors[0].Message != message) {
		t.Fatalf("want message %q, got %s", message, r.body)
	}
}

// jsonEqual compares a body with the expected JSON text.
func jsonEqual(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%q: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("body\n got %s\nwant %s", got, want)
	}
}

func labelJSON(ids ...string) string {
	b, _ := json.Marshal(map[string]any{"labelIds": ids})
	return string(b)
}

func numbered(i int) []byte {
	return rawMessage(fmt.Sprintf("n%d@example.net", i), fmt.Sprintf("Mon, 02 Jan 2006 15:%02d:00 +0000", i%60))
}
