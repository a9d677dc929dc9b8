package gmailtest

import (
	"sort"
	"strings"
)

// reservedLabelNames are refused by labels.create, case-insensitively: the system labels ("no USER label can be
// created with the same name as any SYSTEM label") and GYB's list of other reserved names (§1.3, §5.1.4).
var reservedLabelNames = append(append([]string(nil), systemLabels...),
	"inbox", "spam", "trash", "unread", "starred", "important", "sent", "draft", "drafts", "chat", "chats",
	"migrated", "todo", "todos", "buzz", "bin", "allmail", "archive", "archived", "muted")

func (c *call) listLabels() *apiError {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	out := make([]Label, 0, len(c.user.labels))
	for _, l := range c.user.labels {
		v := *l
		v.MessagesTotal, v.MessagesUnread, v.ThreadsTotal, v.ThreadsUnread = 0, 0, 0, 0 // list omits counts
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	writeJSON(c.w, 200, map[string]any{"labels": stripCounts(out)})
	return nil
}

// stripCounts renders labels without the count fields, as labels.list does.
func stripCounts(ls []Label) []map[string]any {
	out := make([]map[string]any, 0, len(ls))
	for _, l := range ls {
		m := map[string]any{"id": l.ID, "name": l.Name, "type": l.Type}
		if l.MessageListVisibility != "" {
			m["messageListVisibility"] = l.MessageListVisibility
		}
		if l.LabelListVisibility != "" {
			m["labelListVisibility"] = l.LabelListVisibility
		}
		if l.Color != nil {
			m["color"] = l.Color
		}
		out = append(out, m)
	}
	return out
}

func (c *call) getLabel() *apiError {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	l := c.user.labels[c.r.PathValue("id")]
	if l == nil {
		return errNotFound()
	}
	writeJSON(c.w, 200, c.user.counted(l))
	return nil
}

// checkLabelName applies §1.3/§5.1.4: blanks at either end and reserved names → 400 "Invalid label name"; a
// name equal to another label's, case-insensitively → 409 aborted "Label name exists or conflicts". "a/b"
// needs no "a". s.mu held.
func (c *call) checkLabelName(name, self string) *apiError {
	invalid := errInvalidArgument("Invalid label name")
	if name == "" || strings.TrimSpace(name) != name {
		return invalid
	}
	if containsFold(reservedLabelNames, name) || containsFold(c.s.cfg.reserved, name) {
		return invalid
	}
	if l := c.user.labelByName(name); l != nil && l.ID != self {
		return newAPIError(409, "aborted", "Label name exists or conflicts")
	}
	return nil
}

// decodeLabel reads a Label body and checks its visibility values.
func (c *call) decodeLabel() (Label, *apiError) {
	var l Label
	if err := decodeJSON(c.r.Body, &l); err != nil {
		return l, err
	}
	return l, checkVisibility(l)
}

func checkVisibility(l Label) *apiError {
	switch l.MessageListVisibility {
	case "", "show", "hide":
	default:
		return errInvalidArgument("Invalid messageListVisibility: " + l.MessageListVisibility)
	}
	switch l.LabelListVisibility {
	case "", "labelShow", "labelShowIfUnread", "labelHide":
	default:
		return errInvalidArgument("Invalid labelListVisibility: " + l.LabelListVisibility)
	}
	return nil
}

// createLabel is users.labels.create.
func (c *call) createLabel() *apiError {
	req, err := c.decodeLabel()
	if err != nil {
		return err
	}
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if err := c.checkLabelName(req.Name, ""); err != nil {
		return err
	}
	l := c.user.newLabel(Label{Name: req.Name, MessageListVisibility: req.MessageListVisibility,
		LabelListVisibility: req.LabelListVisibility, Color: req.Color})
	writeJSON(c.w, 200, stripCounts([]Label{*l})[0])
	return nil
}

// patchLabel is users.labels.patch (and update): system labels cannot be changed.
func (c *call) patchLabel() *apiError {
	req, err := c.decodeLabel()
	if err != nil {
		return err
	}
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	l := c.user.labels[c.r.PathValue("id")]
	if l == nil {
		return errNotFound()
	}
	if l.Type == "system" {
		return errInvalidArgument("Invalid update to system label")
	}
	if req.Name != "" || c.r.Method == "PUT" {
		if err := c.checkLabelName(req.Name, l.ID); err != nil {
			return err
		}
		l.Name = req.Name
	}
	if req.MessageListVisibility != "" {
		l.MessageListVisibility = req.MessageListVisibility
	}
	if req.LabelListVisibility != "" {
		l.LabelListVisibility = req.LabelListVisibility
	}
	if req.Color != nil {
		l.Color = req.Color
	}
	writeJSON(c.w, 200, stripCounts([]Label{*l})[0])
	return nil
}

// deleteLabel is users.labels.delete: removes the label from its messages; 204.
func (c *call) deleteLabel() *apiError {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	l := c.user.labels[c.r.PathValue("id")]
	if l == nil {
		return errNotFound()
	}
	if l.Type == "system" {
		return errInvalidArgument("Invalid delete request")
	}
	for _, m := range c.user.msgs {
		if m.has(l.ID) {
			c.user.apply(m, modifyRequest{RemoveLabelIDs: []string{l.ID}})
		}
	}
	delete(c.user.labels, l.ID)
	c.w.WriteHeader(204)
	return nil
}
