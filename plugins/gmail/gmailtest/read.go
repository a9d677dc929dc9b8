package gmailtest

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// messageJSON renders the Message resource. internalDate and historyId are strings, as in the discovery
// document (format int64/uint64) (§5.1.3).
func messageJSON(m *stored, format string, headers []string) map[string]any {
	out := map[string]any{"id": m.ID, "threadId": m.ThreadID, "labelIds": m.LabelIDs}
	if format == "minimal-write" {
		return out
	}
	out["internalDate"] = strconv.FormatInt(m.InternalDate.UnixMilli(), 10)
	out["historyId"] = strconv.FormatUint(m.HistoryID, 10)
	out["sizeEstimate"] = m.Size
	switch format {
	case "raw":
		out["raw"] = base64.URLEncoding.EncodeToString(m.raw)
	case "metadata", "full":
		h := parseHeader(m.raw)
		var hs []map[string]string
		for _, name := range headerOrder(m.raw) {
			if format == "metadata" && len(headers) > 0 && !containsFold(headers, name) {
				continue
			}
			for _, v := range h.Values(name) {
				hs = append(hs, map[string]string{"name": name, "value": v})
			}
		}
		mt := strings.ToLower(strings.TrimSpace(strings.Split(h.Get("Content-Type"), ";")[0]))
		if mt == "" {
			mt = "text/plain"
		}
		out["payload"] = map[string]any{"partId": "", "mimeType": mt, "headers": hs, "body": map[string]any{"size": m.Size}}
	}
	return out
}

// headerOrder lists the header names in order of first appearance, in canonical form.
func headerOrder(raw []byte) []string {
	var names []string
	seen := map[string]bool{}
	for _, line := range strings.Split(string(raw), "\n") {
		line = strings.TrimRight(line, "\r")
		if line == "" {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			continue
		}
		name, _, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		cn := canonical(name)
		if !seen[cn] {
			seen[cn] = true
			names = append(names, cn)
		}
	}
	return names
}

func canonical(name string) string {
	b := []byte(strings.ToLower(strings.TrimSpace(name)))
	upper := true
	for i, c := range b {
		if upper && c >= 'a' && c <= 'z' {
			b[i] = c - 32
		}
		upper = c == '-'
	}
	return string(b)
}

func containsFold(list []string, v string) bool {
	for _, x := range list {
		if strings.EqualFold(x, v) {
			return true
		}
	}
	return false
}

// onlyMetadataScope: the gmail.metadata scope cannot read bodies or search.
func (c *call) onlyMetadataScope() bool {
	for _, sc := range c.tok.scopes {
		if sc != ScopeGmailMetadata && contains(c.rt.scopes, sc) {
			return false
		}
	}
	return true
}

// getMessage is users.messages.get with format=raw|minimal|metadata|full (§1.7).
func (c *call) getMessage() *apiError {
	q := c.r.URL.Query()
	format := q.Get("format")
	if format == "" {
		format = "full"
	}
	switch format {
	case "raw", "minimal", "metadata", "full":
	default:
		return errBadRequest(fmt.Sprintf("Invalid value at 'format' (type.googleapis.com/google.apps.gmail.v1.Format), %q", format))
	}
	if (format == "raw" || format == "full") && c.onlyMetadataScope() {
		return newAPIError(403, "forbidden", "Metadata scope doesn't allow format "+strings.ToUpper(format))
	}
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	m := c.user.byID[c.r.PathValue("id")]
	if m == nil || m.Params.Deleted {
		return errNotFound()
	}
	writeJSON(c.w, 200, messageJSON(m, format, q["metadataHeaders"]))
	return nil
}

// pageToken is an offset, opaque to clients.
func pageOffset(tok string) (int, *apiError) {
	if tok == "" {
		return 0, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	n, err2 := strconv.Atoi(strings.TrimPrefix(string(b), "o:"))
	if err != nil || err2 != nil || n < 0 {
		return 0, errBadRequest("Invalid pageToken")
	}
	return n, nil
}

func pageToken(n int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("o:" + strconv.Itoa(n)))
}

// paging reads maxResults (default 100, at most 500, as messages.list and history.list document) and pageToken.
func paging(q url.Values) (limit, off int, err *apiError) {
	if limit, err = maxResults(q.Get("maxResults"), 100, 500); err != nil {
		return 0, 0, err
	}
	off, err = pageOffset(q.Get("pageToken"))
	return limit, off, err
}

func maxResults(q string, def, limit int) (int, *apiError) {
	if q == "" {
		return def, nil
	}
	n, err := strconv.Atoi(q)
	if err != nil || n < 0 {
		return 0, errBadRequest("Invalid value for maxResults: " + q)
	}
	if n == 0 || n > limit {
		n = limit
	}
	return n, nil
}

// term is one search operator of q.
type term struct {
	op, val string
}

// parseQuery splits q into operator:value terms (values may be quoted). The operators emulated are
// rfc822msgid: (§1.4), label:, in:, is:.
func parseQuery(q string) ([]term, error) {
	var out []term
	rs := []rune(q)
	for i := 0; i < len(rs); {
		if unicode.IsSpace(rs[i]) {
			i++
			continue
		}
		j := i
		for j < len(rs) && rs[j] != ':' && !unicode.IsSpace(rs[j]) {
			j++
		}
		if j >= len(rs) || rs[j] != ':' {
			return nil, fmt.Errorf("free text %q", string(rs[i:j]))
		}
		op := strings.ToLower(string(rs[i:j]))
		j++
		var val strings.Builder
		if j < len(rs) && rs[j] == '"' {
			j++
			for j < len(rs) && rs[j] != '"' {
				val.WriteRune(rs[j])
				j++
			}
			j++
		} else {
			for j < len(rs) && !unicode.IsSpace(rs[j]) {
				val.WriteRune(rs[j])
				j++
			}
		}
		switch op {
		case "rfc822msgid", "label", "in", "is":
		default:
			return nil, fmt.Errorf("operator %q", op)
		}
		out = append(out, term{op, val.String()})
		i = j
	}
	return out, nil
}

// normLabel folds a label name the way Gmail's search does: case-insensitive, with '/', ' ' and '-' alike.
func normLabel(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == ' ' || r == '-' {
			return '-'
		}
		return unicode.ToLower(r)
	}, s)
}

func (u *user) matchLabel(m *stored, name string) bool {
	n := normLabel(name)
	for _, id := range m.LabelIDs {
		if l := u.labels[id]; l != nil && (normLabel(l.Name) == n || normLabel(l.ID) == n) {
			return true
		}
	}
	return false
}

func (u *user) matches(m *stored, terms []term) bool {
	for _, t := range terms {
		switch t.op {
		case "rfc822msgid":
			if !strings.EqualFold(m.MessageID, strings.Trim(t.val, "<>")) {
				return false
			}
		case "label":
			if !u.matchLabel(m, t.val) {
				return false
			}
		case "in":
			v := strings.ToLower(t.val)
			if v == "anywhere" {
				continue
			}
			if v == "drafts" {
				v = "draft"
			}
			if !u.matchLabel(m, v) {
				return false
			}
		case "is":
			switch strings.ToLower(t.val) {
			case "unread":
				if !m.has("UNREAD") {
					return false
				}
			case "read":
				if m.has("UNREAD") {
					return false
				}
			case "starred", "important":
				if !m.has(strings.ToUpper(t.val)) {
					return false
				}
			default:
				return false
			}
		}
	}
	return true
}

// listMessages is users.messages.list: q, labelIds, includeSpamTrash, maxResults (default 100, at most 500),
// pageToken (§1.4, §1.7, §5.1.9).
func (c *call) listMessages() *apiError {
	q := c.r.URL.Query()
	if q.Get("q") != "" && c.onlyMetadataScope() {
		return newAPIError(403, "forbidden", "Metadata scope does not support 'q' parameter")
	}
	terms, err := parseQuery(q.Get("q"))
	if err != nil {
		c.s.t.Errorf("gmailtest: q=%q uses what the emulator does not support: %v", q.Get("q"), err)
		return errBadRequest("gmailtest: unsupported query: " + err.Error())
	}
	limit, off, apiErr := paging(q)
	if apiErr != nil {
		return apiErr
	}
	spamTrash, _ := strconv.ParseBool(q.Get("includeSpamTrash"))
	for _, t := range terms {
		if t.op == "in" && containsFold([]string{"spam", "trash", "anywhere"}, t.val) {
			spamTrash = true
		}
	}
	labelIDs := q["labelIds"]
	if containsFold(labelIDs, "SPAM") || containsFold(labelIDs, "TRASH") {
		spamTrash = true
	}
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	var hits []*stored
	for _, m := range c.user.msgs {
		if m.Params.Deleted || (!spamTrash && (m.has("SPAM") || m.has("TRASH"))) {
			continue
		}
		ok := true
		for _, id := range labelIDs {
			ok = ok && m.has(id)
		}
		if ok && c.user.matches(m, terms) {
			hits = append(hits, m)
		}
	}
	// Newest first, as Gmail lists.
	sort.SliceStable(hits, func(i, j int) bool {
		if !hits[i].InternalDate.Equal(hits[j].InternalDate) {
			return hits[i].InternalDate.After(hits[j].InternalDate)
		}
		return hits[i].ID > hits[j].ID
	})
	out := map[string]any{"resultSizeEstimate": len(hits)}
	if off < len(hits) {
		end := min(off+limit, len(hits))
		page := make([]map[string]string, 0, end-off)
		for _, m := range hits[off:end] {
			page = append(page, map[string]string{"id": m.ID, "threadId": m.ThreadID})
		}
		out["messages"] = page
		if end < len(hits) {
			out["nextPageToken"] = pageToken(end)
		}
	}
	writeJSON(c.w, 200, out)
	return nil
}

type modifyRequest struct {
	IDs            []string `json:"ids"`
	AddLabelIDs    []string `json:"addLabelIds"`
	RemoveLabelIDs []string `json:"removeLabelIds"`
}

// checkModify validates label changes: unknown ids and SENT/DRAFT cannot be added (§1.3). s.mu held.
func (u *user) checkModify(req modifyRequest) *apiError {
	for _, id := range req.AddLabelIDs {
		if id == "SENT" || id == "DRAFT" || u.labels[id] == nil {
			return errInvalidArgument("Invalid label: " + id)
		}
	}
	for _, id := range req.RemoveLabelIDs {
		if u.labels[id] == nil {
			return errInvalidArgument("Invalid label: " + id)
		}
	}
	return nil
}

// apply changes a message's labels with history records. s.mu held.
func (u *user) apply(m *stored, req modifyRequest) {
	var added, removed []string
	for _, id := range req.AddLabelIDs {
		if !m.has(id) {
			m.LabelIDs = append(m.LabelIDs, id)
			added = append(added, id)
		}
	}
	for _, id := range req.RemoveLabelIDs {
		if m.has(id) && !contains(req.AddLabelIDs, id) {
			m.LabelIDs = removeString(m.LabelIDs, id)
			removed = append(removed, id)
		}
	}
	if len(added) > 0 {
		u.record(historyRecord{kind: "labelAdded", labels: added}, m)
	}
	if len(removed) > 0 {
		u.record(historyRecord{kind: "labelRemoved", labels: removed}, m)
	}
}

func removeString(list []string, v string) []string {
	out := list[:0]
	for _, x := range list {
		if x != v {
			out = append(out, x)
		}
	}
	return out
}

// modifyMessage is users.messages.modify (§1.4: "import it once, then messages.modify").
func (c *call) modifyMessage() *apiError {
	var req modifyRequest
	if err := decodeJSON(c.r.Body, &req); err != nil {
		return err
	}
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	m := c.user.byID[c.r.PathValue("id")]
	if m == nil || m.Params.Deleted {
		return errNotFound()
	}
	if err := c.user.checkModify(req); err != nil {
		return err
	}
	c.user.apply(m, req)
	writeJSON(c.w, 200, messageJSON(m, "minimal-write", nil))
	return nil
}

// batchModify is users.messages.batchModify: at most 1000 ids, 204 on success.
func (c *call) batchModify() *apiError {
	var req modifyRequest
	if err := decodeJSON(c.r.Body, &req); err != nil {
		return err
	}
	if len(req.IDs) > 1000 {
		return errInvalidArgument("Too many ids: at most 1000 are allowed")
	}
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if err := c.user.checkModify(req); err != nil {
		return err
	}
	for _, id := range req.IDs {
		if m := c.user.byID[id]; m == nil || m.Params.Deleted {
			return errInvalidArgument("Invalid id value: " + id)
		}
	}
	for _, id := range req.IDs {
		c.user.apply(c.user.byID[id], req)
	}
	c.w.WriteHeader(204)
	return nil
}

// getProfile is users.getProfile.
func (c *call) getProfile() *apiError {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	total, threads := 0, map[string]bool{}
	for _, m := range c.user.msgs {
		if !m.Params.Deleted {
			total++
			threads[m.ThreadID] = true
		}
	}
	writeJSON(c.w, 200, map[string]any{
		"emailAddress":  c.user.Email,
		"messagesTotal": total,
		"threadsTotal":  len(threads),
		"historyId":     strconv.FormatUint(c.user.historyID, 10),
	})
	return nil
}

// listHistory is users.history.list: records after startHistoryId, filtered by historyTypes and labelId, paged;
// a startHistoryId older than what is kept → 404 (§1.7; users.history.list reference).
func (c *call) listHistory() *apiError {
	q := c.r.URL.Query()
	startStr := q.Get("startHistoryId")
	if startStr == "" {
		e := errBadRequest("Missing required parameter startHistoryId")
		e.location = "startHistoryId"
		return e
	}
	start, err := strconv.ParseUint(startStr, 10, 64)
	if err != nil {
		e := errBadRequest("Invalid startHistoryId")
		e.location = "startHistoryId"
		return e
	}
	limit, off, apiErr := paging(q)
	if apiErr != nil {
		return apiErr
	}
	types := q["historyTypes"]
	labelID := q.Get("labelId")
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	u := c.user
	if start < u.floor {
		return errNotFound()
	}
	var recs []historyRecord
	for _, h := range u.history {
		if h.id <= start || (len(types) > 0 && !containsFold(types, h.kind)) {
			continue
		}
		if labelID != "" && !contains(h.msg.LabelIDs, labelID) && !contains(h.labels, labelID) {
			continue
		}
		recs = append(recs, h)
	}
	out := map[string]any{"historyId": strconv.FormatUint(u.historyID, 10)}
	if off < len(recs) {
		end := min(off+limit, len(recs))
		var page []map[string]any
		for _, h := range recs[off:end] {
			page = append(page, historyJSON(h))
		}
		out["history"] = page
		if end < len(recs) {
			out["nextPageToken"] = pageToken(end)
		}
	}
	writeJSON(c.w, 200, out)
	return nil
}

func historyJSON(h historyRecord) map[string]any {
	msg := map[string]any{"id": h.msg.ID, "threadId": h.msg.ThreadID, "labelIds": h.msg.LabelIDs}
	out := map[string]any{
		"id":       strconv.FormatUint(h.id, 10),
		"messages": []map[string]any{{"id": h.msg.ID, "threadId": h.msg.ThreadID}},
	}
	switch h.kind {
	case "messageAdded":
		out["messagesAdded"] = []map[string]any{{"message": msg}}
	case "messageDeleted":
		out["messagesDeleted"] = []map[string]any{{"message": msg}}
	case "labelAdded":
		out["labelsAdded"] = []map[string]any{{"message": msg, "labelIds": h.labels}}
	case "labelRemoved":
		out["labelsRemoved"] = []map[string]any{{"message": msg, "labelIds": h.labels}}
	}
	return out
}
