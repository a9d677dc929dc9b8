package gmailtest

import (
	"fmt"
	"sort"
	"strings"
)

// CustomerID is the emulated Workspace customer every user belongs to.
const CustomerID = "C0tern0"

// listDirectoryUsers is Admin SDK Directory users.list: customer=my_customer (or the customer id) or domain=…,
// maxResults 1–500 (default 100), pageToken/nextPageToken; suspended and archived users are listed with their
// flags (§1.8, §5.1.10). The subject must be an administrator.
func (c *call) listDirectoryUsers() *apiError {
	q := c.r.URL.Query()
	customer, domain := q.Get("customer"), strings.ToLower(q.Get("domain"))
	if customer == "" && domain == "" {
		return errBadRequest("Bad Request")
	}
	if customer != "" && customer != "my_customer" && customer != CustomerID {
		return newAPIError(403, "forbidden", "Not Authorized to access this resource/api")
	}
	limit := 100
	if v := q.Get("maxResults"); v != "" {
		var n int
		if _, err := fmt.Sscan(v, &n); err != nil || n < 1 || n > 500 {
			return errInvalidArgument(fmt.Sprintf("Invalid value '%s'. Values must be within the range: [1, 500]", v))
		}
		limit = n
	}
	off, err := pageOffset(q.Get("pageToken"))
	if err != nil {
		return err
	}
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	var all []*user
	known := false
	for _, u := range c.s.users {
		if domain != "" && u.domain() != domain {
			continue
		}
		known = true
		all = append(all, u)
	}
	if domain != "" && !known {
		return newAPIError(403, "forbidden", "Not Authorized to access this resource/api")
	}
	sort.Slice(all, func(i, j int) bool { return strings.ToLower(all[i].Email) < strings.ToLower(all[j].Email) })
	out := map[string]any{"kind": "admin#directory#users", "etag": `"emulated"`}
	if off < len(all) {
		end := min(off+limit, len(all))
		var users []map[string]any
		for i, u := range all[off:end] {
			users = append(users, map[string]any{
				"kind":           "admin#directory#user",
				"id":             fmt.Sprintf("1%020d", off+i+1),
				"primaryEmail":   u.Email,
				"name":           map[string]string{"givenName": u.GivenName, "familyName": u.FamilyName, "fullName": u.GivenName + " " + u.FamilyName},
				"isAdmin":        u.Admin,
				"suspended":      u.Suspended,
				"archived":       u.Archived,
				"isMailboxSetup": u.IsMailboxSetup,
				"customerId":     CustomerID,
				"orgUnitPath":    "/",
			})
		}
		out["users"] = users
		if end < len(all) {
			out["nextPageToken"] = pageToken(end)
		}
	}
	writeJSON(c.w, 200, out)
	return nil
}
