package gmailtest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// metadata is the JSON part of an import/insert (the Message resource; only these fields are read).
type metadata struct {
	Raw      *string  `json:"raw"`
	LabelIDs []string `json:"labelIds"`
	ThreadID string   `json:"threadId"`
}

// upload is a resumable upload session (§1.2 (b), §5.1.1).
type upload struct {
	id       string
	route    *route
	user     *user
	email    string
	cred     string
	meta     metadata
	params   ImportParams
	ctype    string
	data     bytes.Buffer
	declared int64 // X-Upload-Content-Length, -1 if absent
}

// resumableChunk is the Google upload guide's chunk granularity: every chunk but the last is a multiple of
// 256 KiB (gmail/api/guides/uploads, "Upload the file in chunks").
const resumableChunk = 256 * 1024

// importMessage serves users.messages.import and users.messages.insert on all their paths: /upload with
// uploadType=multipart|media|resumable, and the metadata-only JSON endpoint with raw (§1.2, §5.1.1).
func (c *call) importMessage() *apiError {
	q := c.r.URL.Query()
	params, err := c.importParams(q)
	if err != nil {
		return err
	}
	upload := strings.HasPrefix(c.r.URL.Path, "/upload/") || strings.HasPrefix(c.r.URL.Path, "/resumable/upload/")
	if !upload {
		var meta metadata
		if err := decodeJSON(c.r.Body, &meta); err != nil {
			return err
		}
		if meta.Raw == nil || *meta.Raw == "" {
			return errBadRequest("'raw' RFC822 payload message string or uploading message via /upload/* URL required")
		}
		raw, err := decodeRaw(*meta.Raw)
		if err != nil {
			return err
		}
		return c.commit(raw, meta, params)
	}
	params.UploadType = q.Get("uploadType")
	switch params.UploadType {
	case "multipart":
		return c.importMultipart(params)
	case "media":
		if err := checkMediaType(c.r.Header.Get("Content-Type")); err != nil {
			return err
		}
		raw, err := c.readMedia(c.r.Body)
		if err != nil {
			return err
		}
		return c.commit(raw, metadata{}, params)
	case "resumable":
		return c.startResumable(q, params)
	}
	return errBadRequest("Upload requests must include an uploadType URL parameter and a URL path beginning with /upload/")
}

// importParams reads internalDateSource, neverMarkSpam, processForCalendar and deleted with their defaults:
// dateHeader for import, receivedTime for insert (§1.2, §5.1.3).
func (c *call) importParams(q url.Values) (ImportParams, *apiError) {
	p := ImportParams{Method: strings.TrimPrefix(c.rt.op, "messages."), InternalDateSource: q.Get("internalDateSource")}
	switch p.InternalDateSource {
	case "", "dateHeader", "receivedTime":
	default:
		e := errBadRequest(fmt.Sprintf("Invalid value at 'internal_date_source' (type.googleapis.com/google.apps.gmail.v1.InternalDateSource), %q", p.InternalDateSource))
		e.location = "internalDateSource"
		return p, e
	}
	names := []string{"neverMarkSpam", "processForCalendar", "deleted"}
	if p.Method == "insert" {
		names = []string{"deleted"}
	}
	for _, name := range names {
		v := q.Get(name)
		if v == "" {
			continue
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			e := errBadRequest(fmt.Sprintf("Invalid value %q for %s", v, name))
			e.location = name
			return p, e
		}
		switch name {
		case "neverMarkSpam":
			p.NeverMarkSpam = b
		case "processForCalendar":
			p.ProcessForCalendar = b
		case "deleted":
			p.Deleted = b
		}
	}
	return p, nil
}

func decodeJSON(r io.Reader, v any) *apiError {
	b, err := io.ReadAll(r)
	if err != nil {
		return errBadRequest("Invalid JSON payload received. " + err.Error())
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	if err := json.Unmarshal(b, v); err != nil {
		return errBadRequest("Invalid JSON payload received. " + err.Error())
	}
	return nil
}

var base64url = regexp.MustCompile(`^[A-Za-z0-9_-]*$`)

// decodeRaw decodes the raw field: base64url; '+', '/' and '=' padding are refused (§5.1.1, marked [U] there:
// the strict reading, so that what passes here passes Gmail).
func decodeRaw(s string) ([]byte, *apiError) {
	if !base64url.MatchString(s) {
		return nil, errInvalidArgument("Invalid value for ByteString: " + truncate(s, 40))
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, errInvalidArgument("Invalid value for ByteString: " + truncate(s, 40))
	}
	return b, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// checkMediaType applies the discovery document's accept list: message/* only (§1.2, §5.1.2).
func checkMediaType(ct string) *apiError {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || !strings.HasPrefix(mt, "message/") {
		return errBadRequest(fmt.Sprintf("Media type '%s' is not supported. Valid media types: [message/*]", ct))
	}
	return nil
}

// errTooLarge is the answer to media over the limit (§1.2 size, §5.1.2: 413 with a Google error body).
func (c *call) errTooLarge() *apiError {
	return newAPIError(413, "uploadTooLarge", fmt.Sprintf("Media larger than the maximum size of %d bytes", c.s.cfg.maxSize))
}

// readMedia reads media bytes exactly, up to the size limit.
func (c *call) readMedia(r io.Reader) ([]byte, *apiError) {
	b, err := io.ReadAll(io.LimitReader(r, c.s.cfg.maxSize+1))
	if err != nil {
		return nil, errBadRequest("reading the media: " + err.Error())
	}
	if int64(len(b)) > c.s.cfg.maxSize {
		_, _ = io.Copy(io.Discard, r)
		return nil, c.errTooLarge()
	}
	return b, nil
}

// importMultipart parses multipart/related: the JSON metadata part, then the message/* part, whose bytes are kept
// as they are (NextRawPart: no transfer decoding) (§1.2 (a), §5.1.1).
func (c *call) importMultipart(params ImportParams) *apiError {
	mt, mp, err := mime.ParseMediaType(c.r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/related" || mp["boundary"] == "" {
		return errBadRequest("Invalid multipart request: the Content-Type must be multipart/related with a boundary")
	}
	mr := multipart.NewReader(c.r.Body, mp["boundary"])
	part, err := mr.NextRawPart()
	if err != nil {
		return errBadRequest("Invalid multipart request with 0 mime parts.")
	}
	var meta metadata
	if pt, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type")); pt != "application/json" {
		return errBadRequest("Invalid multipart request: the first part must be application/json metadata")
	}
	if err := decodeJSON(part, &meta); err != nil {
		return err
	}
	part, err = mr.NextRawPart()
	if err != nil {
		return errBadRequest("Invalid multipart request with 1 mime parts.")
	}
	if err := checkMediaType(part.Header.Get("Content-Type")); err != nil {
		return err
	}
	raw, apiErr := c.readMedia(part)
	if apiErr != nil {
		return apiErr
	}
	if _, err := mr.NextRawPart(); err != io.EOF {
		return errBadRequest("Invalid multipart request: more than 2 mime parts, or no closing boundary.")
	}
	return c.commit(raw, meta, params)
}

// startResumable opens a session: 200 with Location carrying upload_id (§1.2 (b)).
func (c *call) startResumable(q url.Values, params ImportParams) *apiError {
	var meta metadata
	if err := decodeJSON(c.r.Body, &meta); err != nil {
		return err
	}
	if ct := c.r.Header.Get("X-Upload-Content-Type"); ct != "" {
		if err := checkMediaType(ct); err != nil {
			return err
		}
	}
	declared := int64(-1)
	if v := c.r.Header.Get("X-Upload-Content-Length"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return errBadRequest("Invalid X-Upload-Content-Length")
		}
		if n > c.s.cfg.maxSize {
			return c.errTooLarge()
		}
		declared = n
	}
	if err := c.checkLabels(meta.LabelIDs); err != nil {
		return err
	}
	s := c.s
	s.mu.Lock()
	s.uploadSeq++
	up := &upload{
		id: fmt.Sprintf("AEnB2U%024d", s.uploadSeq), route: c.rt, user: c.user, email: c.email, cred: c.cred,
		meta: meta, params: params, ctype: c.r.Header.Get("X-Upload-Content-Type"), declared: declared,
	}
	s.uploads[up.id] = up
	s.mu.Unlock()
	q.Set("upload_id", up.id)
	c.w.Header().Set("Location", s.URL()+c.r.URL.Path+"?"+q.Encode())
	c.w.Header().Set("X-GUploader-UploadID", up.id)
	c.w.WriteHeader(200)
	return nil
}

func (c *call) resolveUpload() *apiError {
	id := c.r.URL.Query().Get("upload_id")
	c.s.mu.Lock()
	up := c.s.uploads[id]
	c.s.mu.Unlock()
	if up == nil {
		return errNotFound()
	}
	c.up, c.user, c.email, c.cred = up, up.user, up.email, up.cred
	return nil
}

var contentRange = regexp.MustCompile(`^bytes (?:(\d+)-(\d+)|\*)/(\d+|\*)$`)

// uploadChunk takes one PUT (or POST) of a resumable session: Content-Range "bytes a-b/total", "bytes a-b/*",
// "bytes */total" or "bytes */*"; 308 with Range until the last byte, then the stored Message (§1.2 (b),
// §5.1.1). With X-GUploader-No-308: yes (sent by the Go client) the 308 becomes 200 with
// X-HTTP-Status-Code-Override: 308, as Google does.
func (c *call) uploadChunk() *apiError {
	up := c.up
	s := c.s
	first, last, total := int64(-1), int64(-1), int64(-1)
	if cr := c.r.Header.Get("Content-Range"); cr != "" {
		m := contentRange.FindStringSubmatch(cr)
		if m == nil {
			return errBadRequest("Invalid Content-Range: " + cr)
		}
		if m[1] != "" {
			first, _ = strconv.ParseInt(m[1], 10, 64)
			last, _ = strconv.ParseInt(m[2], 10, 64)
		}
		if m[3] != "*" {
			total, _ = strconv.ParseInt(m[3], 10, 64)
		}
	}
	if up.ctype == "" {
		if err := checkMediaType(c.r.Header.Get("Content-Type")); err != nil {
			return err
		}
	}
	body, err := io.ReadAll(io.LimitReader(c.r.Body, s.cfg.maxSize+1))
	if err != nil {
		return errBadRequest("reading the chunk: " + err.Error())
	}
	if c.r.Header.Get("Content-Range") == "" {
		first, last, total = 0, int64(len(body))-1, int64(len(body))
	}
	s.mu.Lock()
	done, apiErr := c.appendChunk(first, last, total, body)
	have := int64(up.data.Len())
	var raw []byte
	if done {
		delete(s.uploads, up.id)
		raw = bytes.Clone(up.data.Bytes())
	}
	s.mu.Unlock()
	if apiErr != nil {
		return apiErr
	}
	if done {
		return c.commit(raw, up.meta, up.params)
	}
	if have > 0 {
		c.w.Header().Set("Range", fmt.Sprintf("bytes=0-%d", have-1))
	}
	if strings.EqualFold(c.r.Header.Get("X-GUploader-No-308"), "yes") {
		c.w.Header().Set("X-HTTP-Status-Code-Override", "308")
		c.w.WriteHeader(200)
	} else {
		c.w.WriteHeader(308)
	}
	return nil
}

// appendChunk adds a chunk to the session (s.mu held) and tells whether the upload is complete.
func (c *call) appendChunk(first, last, total int64, body []byte) (bool, *apiError) {
	up, s := c.up, c.s
	have := int64(up.data.Len())
	if first >= 0 {
		if last-first+1 != int64(len(body)) {
			return false, errBadRequest("Content-Range does not match the length of the request body")
		}
		switch {
		case first > have:
			return false, errBadRequest(fmt.Sprintf("Invalid request. The upload is at byte %d, the chunk starts at %d", have, first))
		case first < have:
			// A resend of bytes already received (a retry after a lost answer): they must be the same bytes.
			overlap := min(have-first, int64(len(body)))
			if !bytes.Equal(up.data.Bytes()[first:first+overlap], body[:overlap]) {
				return false, errBadRequest("Invalid request. The resent bytes differ from those received")
			}
			body = body[overlap:]
		}
		final := total >= 0 && last+1 == total
		if !final && (last+1)%resumableChunk != 0 {
			return false, errBadRequest(fmt.Sprintf("Invalid request. The number of bytes uploaded is required to be a multiple of %d, except for the final request.", resumableChunk))
		}
		up.data.Write(body)
	} else if len(body) > 0 {
		return false, errBadRequest("Invalid Content-Range: bytes */… carries no data")
	}
	have = int64(up.data.Len())
	if have > s.cfg.maxSize {
		delete(s.uploads, up.id)
		return false, c.errTooLarge()
	}
	if total >= 0 && have > total {
		return false, errBadRequest("Invalid request. More bytes were received than the declared total")
	}
	return total >= 0 && have == total, nil
}

// checkLabels refuses unknown label ids and the labels that cannot be applied, SENT and DRAFT (§1.3, §5.1.4).
func (c *call) checkLabels(ids []string) *apiError {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	for _, id := range ids {
		if id == "SENT" || id == "DRAFT" || c.user.labels[id] == nil {
			return errInvalidArgument("Invalid label: " + id)
		}
	}
	return nil
}

// commit stores a message: size limit, labels, internalDate, classification, SENT on insert (§5.1.2–§5.1.5).
func (c *call) commit(raw []byte, meta metadata, p ImportParams) *apiError {
	s := c.s
	if int64(len(raw)) > s.cfg.maxSize {
		return c.errTooLarge()
	}
	if err := c.checkLabels(meta.LabelIDs); err != nil {
		return err
	}
	p.LabelIDs = append([]string(nil), meta.LabelIDs...)
	src := p.InternalDateSource
	if src == "" {
		src = "dateHeader"
		if p.Method == "insert" {
			src = "receivedTime"
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	date, fallback := s.now(), false
	if src == "dateHeader" {
		date, fallback = s.dateFrom(raw)
	}
	labels := append([]string(nil), meta.LabelIDs...)
	if p.Method == "insert" && fromIsUser(raw, c.user.Email) {
		labels = append(labels, "SENT")
	}
	if p.Method == "import" && !p.NeverMarkSpam && s.spammy(raw) {
		labels = slices.DeleteFunc(labels, func(l string) bool { return l == "INBOX" })
		labels = append(labels, "SPAM")
	}
	m := s.store(c.user, raw, labels, date, p)
	m.DateFallback = fallback
	c.committed = true
	writeJSON(c.w, 200, messageJSON(m, "minimal", nil))
	return nil
}

func (s *Server) spammy(raw []byte) bool {
	for _, marker := range s.cfg.spamMarkers {
		if bytes.Contains(raw, marker) {
			return true
		}
	}
	return false
}

// fromIsUser: insert "auto-applies SENT when the user's address is in From:" (§1.3).
func fromIsUser(raw []byte, email string) bool {
	from := parseHeader(raw).Get("From")
	addrs, err := mail.ParseAddressList(from)
	if err != nil {
		return strings.Contains(strings.ToLower(from), strings.ToLower(email))
	}
	for _, a := range addrs {
		if strings.EqualFold(a.Address, email) {
			return true
		}
	}
	return false
}
