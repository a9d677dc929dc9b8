package web

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/ternmail/tern/core/internal/connectors"
	"github.com/ternmail/tern/core/internal/engine"
	"github.com/ternmail/tern/core/internal/project"
)

const (
	routeProjects      = "projects.list"
	routeProjectCreate = "projects.create"
	routeProject       = "projects.show"
	routeProjectUpdate = "projects.update"
	routeProjectDelete = "projects.delete"
)

func (s *Server) registerProjects(con, api *echo.Group) {
	con.GET("/projects", s.projectsPage).Name = routeProjects
	con.POST("/projects", s.projectCreate).Name = routeProjectCreate
	con.GET("/projects/:p", s.projectPage).Name = routeProject
	con.POST("/projects/:p", s.projectUpdate).Name = routeProjectUpdate
	con.POST("/projects/:p/delete", s.projectDelete).Name = routeProjectDelete

	api.GET("/projects", s.apiProjects)
	api.POST("/projects", s.apiProjectCreate)
	api.GET("/projects/:p", s.apiProject)
	api.PUT("/projects/:p", s.apiProjectUpdate)
	api.DELETE("/projects/:p", s.apiProjectDelete)
}

// projectParam loads the project of the :p parameter: an id, or a name
// (the CLI's convenience).
func (s *Server) projectParam(c echo.Context) (*project.Project, error) {
	ref := pathParam(c, "p")
	ctx := c.Request().Context()
	p, err := s.o.Projects.Project(ctx, ref)
	if errors.Is(err, project.ErrNotFound) {
		all, lerr := s.o.Projects.Projects(ctx)
		if lerr != nil {
			return nil, lerr
		}
		for _, q := range all {
			if q.Name == ref {
				return q, nil
			}
		}
		return nil, echo.NewHTTPError(http.StatusNotFound, "no project "+strconv.Quote(ref))
	}
	return p, err
}

// saveProject validates that the connectors exist and can play their
// roles, stores the project and records it (console and API).
func (s *Server) saveProject(c echo.Context, p *project.Project) error {
	ctx := c.Request().Context()
	if err := p.Validate(); err != nil {
		return badRequest("%v", err)
	}
	for _, side := range []struct{ name, role string }{{p.Source, "source"}, {p.Target, "target"}} {
		if err := s.checkConnectorRole(ctx, side.name, side.role); err != nil {
			return err
		}
	}
	created := p.ID == ""
	if err := s.o.Projects.PutProject(ctx, p); err != nil {
		if errors.Is(err, project.ErrConflict) {
			return echo.NewHTTPError(http.StatusConflict, err.Error())
		}
		return badRequest("%v", err)
	}
	action := "project.update"
	if created {
		action = "project.create"
	}
	s.record(c, action, "project "+p.Name, p.Source+" → "+p.Target+"; "+settingsSummary(&p.Settings))
	return nil
}

// checkConnectorRole fails with a 400 when connector name does not exist
// or its plugin cannot be a role ("source", "target").
func (s *Server) checkConnectorRole(ctx context.Context, name, role string) error {
	c, err := s.o.Connectors.Get(ctx, name)
	if errors.Is(err, connectors.ErrNotFound) {
		return badRequest("the %s connector %q does not exist", role, name)
	}
	if err != nil {
		return err
	}
	if s.o.Plugins == nil {
		return nil
	}
	conn, err := s.o.Plugins.Connector(c.Plugin)
	if err != nil {
		return badRequest("the %s connector %q: plugin %s: %v", role, name, c.Plugin, err)
	}
	d, err := conn.Describe(ctx)
	if err != nil {
		return err
	}
	for _, r := range d.Roles {
		if string(r) == role {
			return nil
		}
	}
	return badRequest("connector %q (plugin %s) cannot be a %s", name, c.Plugin, role)
}

// settingsSummary says in a line what a project migrates (for the audit
// log and the projects list).
func settingsSummary(st *project.Settings) string {
	var parts []string
	if len(st.Include) > 0 {
		parts = append(parts, "folders "+strings.Join(st.Include, ", "))
	}
	if len(st.Exclude) > 0 {
		parts = append(parts, "not "+strings.Join(st.Exclude, ", "))
	}
	if st.Since != "" || st.Before != "" {
		parts = append(parts, "dates "+st.Since+"…"+st.Before)
	}
	if st.MaxSize > 0 {
		parts = append(parts, "up to "+strconv.FormatInt(st.MaxSize>>20, 10)+" MiB")
	}
	if st.NoFlags {
		parts = append(parts, "no flags")
	}
	if len(st.Rename) > 0 {
		parts = append(parts, strconv.Itoa(len(st.Rename))+" rename rules")
	}
	if st.Workers > 0 || st.MessagesPerSecond > 0 {
		parts = append(parts, "throttled")
	}
	if len(parts) == 0 {
		return "everything"
	}
	return strings.Join(parts, "; ")
}

// settingsFromForm reads a project's settings form.
func settingsFromForm(c echo.Context) (project.Settings, map[string]string) {
	errs := map[string]string{}
	lines := func(name string) []string {
		var out []string
		for _, l := range strings.Split(c.FormValue(name), "\n") {
			if l = strings.TrimSpace(l); l != "" {
				out = append(out, l)
			}
		}
		return out
	}
	st := project.Settings{
		Include:      lines("include"),
		Exclude:      lines("exclude"),
		Since:        strings.TrimSpace(c.FormValue("since")),
		Before:       strings.TrimSpace(c.FormValue("before")),
		NoFlags:      c.FormValue("flags") != "on",
		NoSpecialUse: c.FormValue("special_use") != "on",
		SkipDeleted:  c.FormValue("skip_deleted") == "on",
	}
	for _, r := range lines("rename") {
		from, to, ok := strings.Cut(r, "=")
		if !ok {
			errs["rename"] = "Write each rule as Old folder=New/Path."
			continue
		}
		st.Rename = append(st.Rename, engine.Rename{From: strings.TrimSpace(from), To: strings.TrimSpace(to)})
	}
	num := func(name string, dst *float64) {
		if v := strings.TrimSpace(c.FormValue(name)); v != "" {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f < 0 {
				errs[name] = "A number, 0 or more."
				return
			}
			*dst = f
		}
	}
	var maxMiB, workers float64
	num("max_size_mib", &maxMiB)
	num("workers", &workers)
	num("rate", &st.MessagesPerSecond)
	st.MaxSize = int64(maxMiB * (1 << 20))
	st.Workers = int(workers)
	if err := st.Validate(); err != nil && len(errs) == 0 {
		errs["form"] = err.Error()
	}
	return st, errs
}

type projectsData struct {
	Projects   []projectRow
	Connectors []*connectors.Config
	Form       *project.Project
	Errors     map[string]string
}

type projectRow struct {
	*project.Project
	Summary string
	Users   int
}

func (s *Server) projectsPage(c echo.Context) error {
	return s.renderProjects(c, http.StatusOK, projectsData{Form: &project.Project{}})
}

func (s *Server) renderProjects(c echo.Context, status int, d projectsData) error {
	ctx := c.Request().Context()
	ps, err := s.o.Projects.Projects(ctx)
	if err != nil {
		return err
	}
	for _, p := range ps {
		us, err := s.o.Projects.Users(ctx, p.ID)
		if err != nil {
			return err
		}
		d.Projects = append(d.Projects, projectRow{Project: p, Summary: settingsSummary(&p.Settings), Users: len(us)})
	}
	if d.Connectors, err = s.o.Connectors.List(ctx); err != nil {
		return err
	}
	return s.render(c, Page{Name: "projects", Title: "Projects", Status: status, Data: d})
}

func (s *Server) projectCreate(c echo.Context) error {
	p := &project.Project{Name: strings.TrimSpace(c.FormValue("name")), Source: c.FormValue("source"), Target: c.FormValue("target")}
	st, errs := settingsFromForm(c)
	p.Settings = st
	if len(errs) == 0 {
		if err := s.saveProject(c, p); err != nil {
			msg, err := formError(err)
			if err != nil {
				return err
			}
			errs["form"] = msg
		}
	}
	if len(errs) > 0 {
		p.ID = ""
		return s.renderProjects(c, http.StatusUnprocessableEntity, projectsData{Form: p, Errors: errs})
	}
	s.flash(c, FlashSuccess, "Project "+p.Name+" created. Add its users next.")
	return s.redirect(c, routeUsers, p.ID)
}

type projectData struct {
	Project    *project.Project
	Connectors []*connectors.Config
	Users      map[project.Status]int
	UsersTotal int
	Batches    []*project.Batch
	Errors     map[string]string
	// SelfService says the self-service page is there.
	SelfService bool
}

func (s *Server) projectPage(c echo.Context) error {
	p, err := s.projectParam(c)
	if err != nil {
		return err
	}
	return s.renderProject(c, http.StatusOK, p, nil)
}

func (s *Server) renderProject(c echo.Context, status int, p *project.Project, errs map[string]string) error {
	ctx := c.Request().Context()
	d := projectData{Project: p, Users: map[project.Status]int{}, Errors: errs, SelfService: s.o.SelfService != nil}
	us, err := s.o.Projects.Users(ctx, p.ID)
	if err != nil {
		return err
	}
	for _, u := range us {
		d.Users[u.Status]++
	}
	d.UsersTotal = len(us)
	if d.Batches, err = s.o.Projects.Batches(ctx, p.ID); err != nil {
		return err
	}
	if d.Connectors, err = s.o.Connectors.List(ctx); err != nil {
		return err
	}
	return s.render(c, Page{Name: "project", Title: p.Name, Status: status, Data: d, Nav: "projects"})
}

func (s *Server) projectUpdate(c echo.Context) error {
	p, err := s.projectParam(c)
	if err != nil {
		return err
	}
	st, errs := settingsFromForm(c)
	p.Settings = st
	if v := strings.TrimSpace(c.FormValue("name")); v != "" {
		p.Name = v
	}
	if v := c.FormValue("source"); v != "" {
		p.Source = v
	}
	if v := c.FormValue("target"); v != "" {
		p.Target = v
	}
	if len(errs) == 0 {
		if err := s.saveProject(c, p); err != nil {
			msg, err := formError(err)
			if err != nil {
				return err
			}
			errs["form"] = msg
		}
	}
	if len(errs) > 0 {
		return s.renderProject(c, http.StatusUnprocessableEntity, p, errs)
	}
	s.flash(c, FlashSuccess, "Settings of "+p.Name+" saved; they apply from the next pass.")
	return s.redirect(c, routeProject, p.ID)
}

// deleteProject deletes a project with its users, their secrets and its
// batches.
func (s *Server) deleteProject(c echo.Context, p *project.Project) error {
	if err := s.o.Projects.DeleteProject(c.Request().Context(), p.ID); err != nil {
		if errors.Is(err, project.ErrNotFound) {
			return echo.NewHTTPError(http.StatusNotFound, "no such project")
		}
		return echo.NewHTTPError(http.StatusConflict, err.Error())
	}
	s.record(c, "project.delete", "project "+p.Name, "with its users, their secrets and its batches")
	return nil
}

func (s *Server) projectDelete(c echo.Context) error {
	p, err := s.projectParam(c)
	if err != nil {
		return err
	}
	if err := s.deleteProject(c, p); err != nil {
		code, _ := statusOf(err)
		if code != http.StatusConflict {
			return err
		}
		s.flash(c, FlashError, message(err, code))
		return s.redirect(c, routeProject, p.ID)
	}
	s.flash(c, FlashSuccess, "Project "+p.Name+" deleted.")
	return s.redirect(c, routeProjects)
}

// API

func (s *Server) apiProjects(c echo.Context) error {
	ps, err := s.o.Projects.Projects(c.Request().Context())
	if err != nil {
		return err
	}
	if ps == nil {
		ps = []*project.Project{}
	}
	return c.JSON(http.StatusOK, ps)
}

func (s *Server) apiProject(c echo.Context) error {
	p, err := s.projectParam(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, p)
}

func (s *Server) apiProjectCreate(c echo.Context) error {
	var p project.Project
	if err := c.Bind(&p); err != nil {
		return badRequest("body: %v", err)
	}
	p.ID = ""
	if err := s.saveProject(c, &p); err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, &p)
}

func (s *Server) apiProjectUpdate(c echo.Context) error {
	old, err := s.projectParam(c)
	if err != nil {
		return err
	}
	var p project.Project
	if err := c.Bind(&p); err != nil {
		return badRequest("body: %v", err)
	}
	p.ID = old.ID
	if err := s.saveProject(c, &p); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, &p)
}

func (s *Server) apiProjectDelete(c echo.Context) error {
	p, err := s.projectParam(c)
	if err != nil {
		return err
	}
	if err := s.deleteProject(c, p); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
