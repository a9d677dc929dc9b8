package web

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/ternmail/tern/core/internal/audit"
)

func (s *Server) registerAudit(con, api *echo.Group) {
	con.GET("/audit", s.auditPage).Name = routeAudit
	api.GET("/audit", s.apiAudit)
}

// auditQuery reads ?admin=&action=&after=&limit= (page and API alike).
func auditQuery(c echo.Context) audit.Query {
	limit, _ := strconv.Atoi(c.QueryParam("limit"))
	return audit.Query{Admin: c.QueryParam("admin"), Action: c.QueryParam("action"), After: c.QueryParam("after"), Limit: limit}
}

type auditData struct {
	Query   audit.Query
	Entries []audit.Entry
	Admins  []string
	// Next is the URL of the next page, "" at the end.
	Next string
}

func (s *Server) auditPage(c echo.Context) error {
	ctx := c.Request().Context()
	q := auditQuery(c)
	p, err := s.audit.List(ctx, q)
	if err != nil {
		return err
	}
	d := auditData{Query: q, Entries: p.Entries}
	if p.Next != "" {
		v := url.Values{"after": {p.Next}}
		for k, x := range map[string]string{"admin": q.Admin, "action": q.Action, "limit": c.QueryParam("limit")} {
			if x != "" {
				v.Set(k, x)
			}
		}
		d.Next = "/audit?" + v.Encode()
	}
	list, err := s.admins.List(ctx)
	if err != nil {
		return err
	}
	for _, a := range list {
		d.Admins = append(d.Admins, a.Name)
	}
	return s.render(c, Page{Name: "audit", Title: "Audit log", Data: d})
}

func (s *Server) apiAudit(c echo.Context) error {
	p, err := s.audit.List(c.Request().Context(), auditQuery(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, p)
}
