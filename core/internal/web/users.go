package web

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ternmail/tern/core/internal/connectors"
	"github.com/ternmail/tern/core/internal/project"
	"github.com/ternmail/tern/core/internal/scheduler"
	"github.com/ternmail/tern/core/internal/selfservice"
	"github.com/ternmail/tern/core/internal/userlist"
	"github.com/ternmail/tern/sdk/connector"
)

const (
	routeUsers          = "users.list"
	routeUserCreate     = "users.create"
	routeUser           = "users.show"
	routeUserUpdate     = "users.update"
	routeUserDelete     = "users.delete"
	routeUserRun        = "users.run"
	routeUserProgress   = "users.progress"
	routeUsersDelete    = "users.delete_many"
	routeUsersImport    = "users.import"
	routeUsersPreview   = "users.import.preview"
	routeUsersConfirm   = "users.import.confirm"
	routeUsersRetrieve  = "users.retrieve"
	maxImportUploadSize = userlist.DefaultMaxBytes
)

func (s *Server) registerUsers(con, api *echo.Group) {
	con.GET("/projects/:p/users", s.usersPage).Name = routeUsers
	con.POST("/projects/:p/users", s.userCreate).Name = routeUserCreate
	con.POST("/projects/:p/users/delete", s.usersDelete).Name = routeUsersDelete
	con.GET("/projects/:p/users/import", s.importPage).Name = routeUsersImport
	con.POST("/projects/:p/users/import", s.importPreview).Name = routeUsersPreview
	con.POST("/projects/:p/users/import/confirm", s.importConfirm).Name = routeUsersConfirm
	con.POST("/projects/:p/users/retrieve", s.usersRetrieve).Name = routeUsersRetrieve
	con.GET("/projects/:p/users/:u", s.userPage).Name = routeUser
	con.GET("/projects/:p/users/:u/progress", s.userProgress).Name = routeUserProgress
	con.POST("/projects/:p/users/:u", s.userUpdate).Name = routeUserUpdate
	con.POST("/projects/:p/users/:u/delete", s.userDelete).Name = routeUserDelete
	con.POST("/projects/:p/users/:u/run", s.userRun).Name = routeUserRun

	api.GET("/projects/:p/users", s.apiUsers)
	api.POST("/projects/:p/users", s.apiUserCreate)
	api.POST("/projects/:p/users/import", s.apiUsersImport)
	api.POST("/projects/:p/users/retrieve", s.apiUsersRetrieve)
	api.GET("/projects/:p/users/:u", s.apiUser)
	api.PUT("/projects/:p/users/:u", s.apiUserUpdate)
	api.DELETE("/projects/:p/users/:u", s.apiUserDelete)
	api.POST("/projects/:p/users/:u/run", s.apiUserRun)
}

// userParam loads the user of the :u parameter of project p: an id, or a
// source login.
func (s *Server) userParam(c echo.Context, p *project.Project) (*project.User, error) {
	return s.findUser(c, p, pathParam(c, "u"))
}

// projectUser loads the :p project and its :u user.
func (s *Server) projectUser(c echo.Context) (*project.Project, *project.User, error) {
	p, err := s.projectParam(c)
	if err != nil {
		return nil, nil, err
	}
	u, err := s.userParam(c, p)
	return p, u, err
}

func (s *Server) findUser(c echo.Context, p *project.Project, ref string) (*project.User, error) {
	ctx := c.Request().Context()
	u, err := s.o.Projects.User(ctx, p.ID, ref)
	if errors.Is(err, project.ErrNotFound) {
		us, lerr := s.o.Projects.Users(ctx, p.ID)
		if lerr != nil {
			return nil, lerr
		}
		for _, x := range us {
			if strings.EqualFold(x.SourceUser, ref) {
				return x, nil
			}
		}
		return nil, echo.NewHTTPError(http.StatusNotFound, "no user "+strconv.Quote(ref)+" in project "+p.Name)
	}
	return u, err
}

// userFilter selects users by status and a search text.
type userFilter struct {
	Status string
	Query  string
}

func (f userFilter) match(u *project.User) bool {
	if f.Status != "" && string(u.Status) != f.Status {
		return false
	}
	if q := strings.ToLower(strings.TrimSpace(f.Query)); q != "" {
		return strings.Contains(strings.ToLower(u.SourceUser), q) || strings.Contains(strings.ToLower(u.TargetUser), q)
	}
	return true
}

func (s *Server) filteredUsers(c echo.Context, p *project.Project, f userFilter) ([]*project.User, error) {
	us, err := s.o.Projects.Users(c.Request().Context(), p.ID)
	if err != nil {
		return nil, err
	}
	return f.apply(us)
}

// apply returns the users of us that f selects (a new slice).
func (f userFilter) apply(us []*project.User) ([]*project.User, error) {
	if f.Status != "" && !slices.Contains(project.Statuses, project.Status(f.Status)) {
		return nil, badRequest("no status %q (want one of %v)", f.Status, project.Statuses)
	}
	var out []*project.User
	for _, u := range us {
		if f.match(u) {
			out = append(out, u)
		}
	}
	return out, nil
}

// userInput is a user as forms and the API give it; passwords go to the
// secrets layer and never come back.
type userInput struct {
	SourceUser     string `json:"source_user"`
	TargetUser     string `json:"target_user"`
	SourcePassword string `json:"source_password,omitempty"`
	TargetPassword string `json:"target_password,omitempty"`
}

// saveUser creates or updates a user of p and stores the passwords given
// (console and API). u is nil to create.
func (s *Server) saveUser(c echo.Context, p *project.Project, u *project.User, in userInput) (*project.User, error) {
	ctx := c.Request().Context()
	in.SourceUser, in.TargetUser = strings.TrimSpace(in.SourceUser), strings.TrimSpace(in.TargetUser)
	created := u == nil
	if created {
		u = &project.User{Project: p.ID, Origin: "manual"}
	}
	if in.SourceUser != "" {
		u.SourceUser = in.SourceUser
	}
	if in.TargetUser != "" {
		u.TargetUser = in.TargetUser
	} else if created {
		u.TargetUser = u.SourceUser
	}
	if err := s.o.Projects.PutUser(ctx, u); err != nil {
		if errors.Is(err, project.ErrConflict) {
			return nil, echo.NewHTTPError(http.StatusConflict, err.Error())
		}
		return nil, badRequest("%v", err)
	}
	if in.SourcePassword != "" || in.TargetPassword != "" {
		if err := s.o.Projects.SetUserPasswords(ctx, p.ID, u.ID, in.SourcePassword, in.TargetPassword); err != nil {
			if created {
				s.o.Projects.DeleteUser(ctx, p.ID, u.ID)
			}
			return nil, err
		}
	}
	action, detail := "user.update", ""
	if created {
		action = "user.create"
	}
	if in.SourcePassword != "" || in.TargetPassword != "" {
		detail = "own password set (in the secrets layer)"
	}
	s.record(c, action, "user "+u.SourceUser+" of project "+p.Name, detail)
	return s.o.Projects.User(ctx, p.ID, u.ID)
}

func (s *Server) deleteUser(c echo.Context, p *project.Project, u *project.User) error {
	if pr, ok := s.o.Scheduler.UserProgress(p.ID, u.ID); ok && pr.Status == project.StatusRunning {
		return echo.NewHTTPError(http.StatusConflict, "user "+u.SourceUser+" is being migrated: pause or cancel its batch first")
	}
	if err := s.o.Projects.DeleteUser(c.Request().Context(), p.ID, u.ID); err != nil {
		return err
	}
	s.record(c, "user.delete", "user "+u.SourceUser+" of project "+p.Name, "with its secrets")
	return nil
}

func (s *Server) runUser(c echo.Context, p *project.Project, u *project.User) error {
	if err := s.o.Scheduler.RunUser(c.Request().Context(), p.ID, u.ID); err != nil {
		return echo.NewHTTPError(http.StatusConflict, err.Error())
	}
	s.record(c, "user.run", "user "+u.SourceUser+" of project "+p.Name, "a delta pass")
	return nil
}

// Pages

type usersData struct {
	Project  *project.Project
	Users    []*project.User
	Total    int
	Filter   userFilter
	Statuses []project.Status
	Form     userInput
	Errors   map[string]string
	// CanRetrieve says the source connector can list its users.
	CanRetrieve bool
	// SelfService says invitations can be sent; Invitations are the
	// users' invitations by user ID.
	SelfService bool
	Invitations map[string]*selfservice.Invitation
}

func (s *Server) usersPage(c echo.Context) error {
	p, err := s.projectParam(c)
	if err != nil {
		return err
	}
	return s.renderUsers(c, http.StatusOK, p, usersData{})
}

func (s *Server) renderUsers(c echo.Context, status int, p *project.Project, d usersData) error {
	d.Project, d.Statuses = p, project.Statuses
	d.Filter = userFilter{Status: c.QueryParam("status"), Query: c.QueryParam("q")}
	all, err := s.o.Projects.Users(c.Request().Context(), p.ID)
	if err != nil {
		return err
	}
	d.Total = len(all)
	if d.Users, err = d.Filter.apply(all); err != nil {
		return err
	}
	d.CanRetrieve = s.canRetrieve(c, p)
	if s.o.SelfService != nil {
		invs, err := s.o.SelfService.Invitations(c.Request().Context(), p.ID)
		if err != nil {
			return err
		}
		d.SelfService, d.Invitations = true, make(map[string]*selfservice.Invitation, len(invs))
		for _, inv := range invs {
			d.Invitations[inv.User] = inv
		}
	}
	return s.render(c, Page{Name: "users", Title: "Users of " + p.Name, Status: status, Data: d, Nav: "projects"})
}

// canRetrieve tells whether p's source connector can list its users.
func (s *Server) canRetrieve(c echo.Context, p *project.Project) bool {
	conn, _, err := s.sourceConnector(c, p)
	if err != nil {
		return false
	}
	d, err := conn.Describe(c.Request().Context())
	return err == nil && d.Capabilities.ListUsers
}

func (s *Server) sourceConnector(c echo.Context, p *project.Project) (connector.Connector, *connectors.Config, error) {
	cfg, err := s.o.Connectors.Get(c.Request().Context(), p.Source)
	if err != nil {
		return nil, nil, err
	}
	if s.o.Plugins == nil {
		return nil, nil, errors.New("no plugins")
	}
	conn, err := s.o.Plugins.Connector(cfg.Plugin)
	if err != nil {
		return nil, nil, err
	}
	return conn, cfg, nil
}

func (s *Server) userCreate(c echo.Context) error {
	p, err := s.projectParam(c)
	if err != nil {
		return err
	}
	in := userInput{SourceUser: c.FormValue("source_user"), TargetUser: c.FormValue("target_user"),
		SourcePassword: c.FormValue("source_password"), TargetPassword: c.FormValue("target_password")}
	u, err := s.saveUser(c, p, nil, in)
	if err != nil {
		msg, err := formError(err)
		if err != nil {
			return err
		}
		in.SourcePassword, in.TargetPassword = "", ""
		return s.renderUsers(c, http.StatusUnprocessableEntity, p, usersData{Form: in, Errors: map[string]string{"form": msg}})
	}
	s.flash(c, FlashSuccess, "User "+u.SourceUser+" → "+u.TargetUser+" added.")
	return s.redirect(c, routeUsers, p.ID)
}

// selectedUsers returns the :p project and the users ticked on its users
// page; with none ticked it flashes "Select the users to <verb> first."
// and returns no ids.
func (s *Server) selectedUsers(c echo.Context, verb string) (*project.Project, []string, error) {
	p, err := s.projectParam(c)
	if err != nil {
		return nil, nil, err
	}
	form, err := c.FormParams()
	if err != nil {
		return nil, nil, badRequest("%v", err)
	}
	ids := form["user"]
	if len(ids) == 0 {
		s.flash(c, FlashError, "Select the users to "+verb+" first.")
	}
	return p, ids, nil
}

func (s *Server) usersDelete(c echo.Context) error {
	p, ids, err := s.selectedUsers(c, "delete")
	if err != nil || len(ids) == 0 {
		return s.redirectOr(c, err, routeUsers, p)
	}
	n := 0
	for _, id := range ids {
		u, err := s.o.Projects.User(c.Request().Context(), p.ID, id)
		if err != nil {
			continue
		}
		if err := s.deleteUser(c, p, u); err != nil {
			code, _ := statusOf(err)
			s.flash(c, FlashError, message(err, code))
			continue
		}
		n++
	}
	s.flash(c, FlashSuccess, strconv.Itoa(n)+" users deleted, with their secrets.")
	return s.redirect(c, routeUsers, p.ID)
}

type userData struct {
	Project  *project.Project
	User     *project.User
	Progress scheduler.UserProgress
	Live     bool
	Reports  []*project.RunReport
	Errors   map[string]string
}

func (s *Server) userPage(c echo.Context) error {
	p, u, err := s.projectUser(c)
	if err != nil {
		return err
	}
	return s.renderUser(c, http.StatusOK, p, u, nil)
}

func (s *Server) userData(c echo.Context, p *project.Project, u *project.User) (*userData, error) {
	d := &userData{Project: p, User: u}
	d.Progress, d.Live = s.o.Scheduler.UserProgress(p.ID, u.ID)
	rs, err := s.o.Projects.Reports(c.Request().Context(), p.ID, u.ID)
	if err != nil {
		return nil, err
	}
	slices.Reverse(rs)
	d.Reports = rs
	return d, nil
}

func (s *Server) renderUser(c echo.Context, status int, p *project.Project, u *project.User, errs map[string]string) error {
	d, err := s.userData(c, p, u)
	if err != nil {
		return err
	}
	d.Errors = errs
	return s.render(c, Page{Name: "user", Title: u.SourceUser, Status: status, Data: d, Nav: "projects"})
}

// userProgress is the live part of the user page (htmx polling).
func (s *Server) userProgress(c echo.Context) error {
	p, u, err := s.projectUser(c)
	if err != nil {
		return err
	}
	d, err := s.userData(c, p, u)
	if err != nil {
		return err
	}
	return s.renderPartial(c, http.StatusOK, "user_progress", d)
}

func (s *Server) userUpdate(c echo.Context) error {
	p, u, err := s.projectUser(c)
	if err != nil {
		return err
	}
	in := userInput{TargetUser: c.FormValue("target_user"), SourcePassword: c.FormValue("source_password"), TargetPassword: c.FormValue("target_password")}
	if _, err := s.saveUser(c, p, u, in); err != nil {
		msg, err := formError(err)
		if err != nil {
			return err
		}
		return s.renderUser(c, http.StatusUnprocessableEntity, p, u, map[string]string{"form": msg})
	}
	s.flash(c, FlashSuccess, "User "+u.SourceUser+" saved.")
	return s.redirect(c, routeUser, p.ID, u.ID)
}

func (s *Server) userDelete(c echo.Context) error {
	p, u, err := s.projectUser(c)
	if err != nil {
		return err
	}
	if err := s.deleteUser(c, p, u); err != nil {
		code, _ := statusOf(err)
		if code != http.StatusConflict {
			return err
		}
		s.flash(c, FlashError, message(err, code))
		return s.redirect(c, routeUser, p.ID, u.ID)
	}
	s.flash(c, FlashSuccess, "User "+u.SourceUser+" deleted, with its secrets.")
	return s.redirect(c, routeUsers, p.ID)
}

func (s *Server) userRun(c echo.Context) error {
	p, u, err := s.projectUser(c)
	if err != nil {
		return err
	}
	if err := s.runUser(c, p, u); err != nil {
		code, _ := statusOf(err)
		s.flash(c, FlashError, message(err, code))
	} else {
		s.flash(c, FlashSuccess, "A delta pass over "+u.SourceUser+" is queued.")
	}
	return s.redirect(c, routeUser, p.ID, u.ID)
}

// CSV import: upload → preview → confirm. The parsed list waits in
// memory (it may hold passwords, which never go to the state store) for
// the confirmation, at most 15 minutes, bound to the session's admin.

type pendingImport struct {
	project string
	admin   string
	name    string
	res     *userlist.Result
	expires time.Time
}

type importCache struct {
	mu sync.Mutex
	m  map[string]*pendingImport
}

var imports = &importCache{m: map[string]*pendingImport{}}

func (ic *importCache) put(p *pendingImport) string {
	var b [16]byte
	rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	ic.mu.Lock()
	defer ic.mu.Unlock()
	now := time.Now()
	for k, v := range ic.m {
		if now.After(v.expires) {
			delete(ic.m, k)
		}
	}
	p.expires = now.Add(15 * time.Minute)
	ic.m[id] = p
	return id
}

func (ic *importCache) take(id, projectID, admin string) *pendingImport {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	p := ic.m[id]
	if p == nil || p.project != projectID || p.admin != admin || time.Now().After(p.expires) {
		return nil
	}
	delete(ic.m, id)
	return p
}

type importData struct {
	Project *project.Project
	// Preview
	ID       string
	FileName string
	Format   userlist.Format
	Summary  *userlist.ImportSummary
	Entries  []userlist.Entry
	Valid    int
	Error    string
	Formats  []userlist.Format
}

func (s *Server) importPage(c echo.Context) error {
	p, err := s.projectParam(c)
	if err != nil {
		return err
	}
	return s.render(c, Page{Name: "users_import", Title: "Import users into " + p.Name, Data: importData{Project: p, Formats: importFormats}, Nav: "projects"})
}

var importFormats = []userlist.Format{userlist.FormatTern, userlist.FormatExchange, userlist.FormatImapsync}

// parseUpload parses a user list; the error is for the admin to read.
func parseUpload(r io.Reader, format string) (*userlist.Result, error) {
	if format != "" && !slices.Contains(importFormats, userlist.Format(format)) {
		return nil, badRequest("no format %q (want tern, exchange or imapsync)", format)
	}
	res, err := userlist.Parse(r, userlist.Options{Format: userlist.Format(format)})
	if err != nil {
		return nil, badRequest("%v", err)
	}
	return res, nil
}

func (s *Server) importPreview(c echo.Context) error {
	p, err := s.projectParam(c)
	if err != nil {
		return err
	}
	d := importData{Project: p, Formats: importFormats}
	fail := func(msg string) error {
		d.Error = msg
		return s.render(c, Page{Name: "users_import", Title: "Import users into " + p.Name, Status: http.StatusUnprocessableEntity, Data: d, Nav: "projects"})
	}
	fh, err := c.FormFile("file")
	if err != nil {
		return fail("Choose a file to import.")
	}
	d.FileName = fh.Filename
	if fh.Size > maxImportUploadSize {
		return fail("The file is larger than " + strconv.Itoa(maxImportUploadSize>>20) + " MiB; split it.")
	}
	f, err := fh.Open()
	if err != nil {
		return err
	}
	defer f.Close()
	res, err := parseUpload(f, c.FormValue("format"))
	if err != nil {
		code, _ := statusOf(err)
		return fail(message(err, code))
	}
	sum, err := userlist.Preview(c.Request().Context(), s.o.Projects, p.ID, res)
	if err != nil {
		return err
	}
	d.Format, d.Summary, d.Entries = res.Format, sum, res.Entries
	d.Valid = sum.Added + sum.Updated
	if d.Valid > 0 {
		d.ID = imports.put(&pendingImport{project: p.ID, admin: currentAdmin(c).Name, name: fh.Filename, res: res})
	}
	return s.render(c, Page{Name: "users_import", Title: "Import users into " + p.Name, Data: d, Nav: "projects"})
}

func (s *Server) importConfirm(c echo.Context) error {
	p, err := s.projectParam(c)
	if err != nil {
		return err
	}
	pi := imports.take(c.FormValue("id"), p.ID, currentAdmin(c).Name)
	if pi == nil {
		s.flash(c, FlashError, "That preview has expired or was used already; upload the file again.")
		return s.redirect(c, routeUsersImport, p.ID)
	}
	sum, err := s.importList(c, p, pi.res, pi.name)
	if err != nil {
		return err
	}
	msg := strconv.Itoa(sum.Added) + " users added, " + strconv.Itoa(sum.Updated) + " updated"
	if len(sum.Errors) > 0 {
		msg += "; " + strconv.Itoa(len(sum.Errors)) + " lines left out (listed in the preview)"
	}
	s.flash(c, FlashSuccess, msg+".")
	return s.redirect(c, routeUsers, p.ID)
}

// importList imports a parsed list and records it.
func (s *Server) importList(c echo.Context, p *project.Project, res *userlist.Result, name string) (*userlist.ImportSummary, error) {
	sum, err := userlist.Import(c.Request().Context(), s.o.Projects, p.ID, res, "csv")
	if sum != nil && sum.Added+sum.Updated > 0 {
		s.record(c, "user.import", "project "+p.Name, name+" ("+string(res.Format)+"): "+strconv.Itoa(sum.Added)+" added, "+
			strconv.Itoa(sum.Updated)+" updated, "+strconv.Itoa(len(sum.Errors))+" lines left out")
	}
	return sum, err
}

// retrieveUsers adds the users that p's source connector lists.
func (s *Server) retrieveUsers(c echo.Context, p *project.Project) (added, existing int, err error) {
	conn, cfg, err := s.sourceConnector(c, p)
	if err != nil {
		return 0, 0, err
	}
	listed, err := s.o.Connectors.ListUsers(c.Request().Context(), conn, cfg)
	if err != nil {
		return 0, 0, err
	}
	ctx := c.Request().Context()
	have, err := s.o.Projects.Users(ctx, p.ID)
	if err != nil {
		return 0, 0, err
	}
	known := map[string]bool{}
	for _, u := range have {
		known[strings.ToLower(u.SourceUser)] = true
	}
	for _, lu := range listed {
		if known[strings.ToLower(lu.Login)] {
			existing++
			continue
		}
		target := lu.Address
		if target == "" {
			target = lu.Login
		}
		u := &project.User{Project: p.ID, SourceUser: lu.Login, TargetUser: target, Origin: "discovered"}
		if err := s.o.Projects.PutUser(ctx, u); err != nil {
			if errors.Is(err, project.ErrConflict) {
				existing++
				continue
			}
			return added, existing, err
		}
		known[strings.ToLower(lu.Login)] = true
		added++
	}
	s.record(c, "user.retrieve", "project "+p.Name, strconv.Itoa(added)+" users added from connector "+cfg.Name)
	return added, existing, nil
}

func (s *Server) usersRetrieve(c echo.Context) error {
	p, err := s.projectParam(c)
	if err != nil {
		return err
	}
	added, existing, err := s.retrieveUsers(c, p)
	if err != nil {
		code, ok := statusOf(err)
		if !ok {
			code = http.StatusBadGateway
		}
		s.flash(c, FlashError, "The source connector could not list its users: "+message(err, code))
	} else {
		s.flash(c, FlashSuccess, strconv.Itoa(added)+" users added from the source connector ("+strconv.Itoa(existing)+" were there already).")
	}
	return s.redirect(c, routeUsers, p.ID)
}

// API

func (s *Server) apiUsers(c echo.Context) error {
	p, err := s.projectParam(c)
	if err != nil {
		return err
	}
	us, err := s.filteredUsers(c, p, userFilter{Status: c.QueryParam("status"), Query: c.QueryParam("q")})
	if err != nil {
		return err
	}
	if us == nil {
		us = []*project.User{}
	}
	return c.JSON(http.StatusOK, us)
}

func (s *Server) apiUser(c echo.Context) error {
	p, u, err := s.projectUser(c)
	if err != nil {
		return err
	}
	pr, live := s.o.Scheduler.UserProgress(p.ID, u.ID)
	return c.JSON(http.StatusOK, map[string]any{"user": u, "progress": pr, "live": live})
}

func (s *Server) apiUserCreate(c echo.Context) error {
	p, err := s.projectParam(c)
	if err != nil {
		return err
	}
	var in userInput
	if err := c.Bind(&in); err != nil {
		return badRequest("body: %v", err)
	}
	if strings.TrimSpace(in.SourceUser) == "" {
		return badRequest("source_user is required")
	}
	u, err := s.saveUser(c, p, nil, in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, u)
}

func (s *Server) apiUserUpdate(c echo.Context) error {
	p, u, err := s.projectUser(c)
	if err != nil {
		return err
	}
	var in userInput
	if err := c.Bind(&in); err != nil {
		return badRequest("body: %v", err)
	}
	out, err := s.saveUser(c, p, u, in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) apiUserDelete(c echo.Context) error {
	p, u, err := s.projectUser(c)
	if err != nil {
		return err
	}
	if err := s.deleteUser(c, p, u); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) apiUserRun(c echo.Context) error {
	p, u, err := s.projectUser(c)
	if err != nil {
		return err
	}
	if err := s.runUser(c, p, u); err != nil {
		return err
	}
	return c.NoContent(http.StatusAccepted)
}

// importAnswer is the API's answer to an import (or its dry run).
type importAnswer struct {
	Format   userlist.Format      `json:"format"`
	DryRun   bool                 `json:"dry_run,omitempty"`
	Valid    int                  `json:"valid"`
	Added    int                  `json:"added"`
	Updated  int                  `json:"updated"`
	Existing int                  `json:"existing"`
	Errors   []userlist.LineError `json:"errors"`
	Notes    []userlist.LineError `json:"notes,omitempty"`
}

// apiUsersImport imports a user list sent as the body (text/csv) or as
// the multipart field "file"; ?dry_run=1 only checks it.
func (s *Server) apiUsersImport(c echo.Context) error {
	p, err := s.projectParam(c)
	if err != nil {
		return err
	}
	var body io.Reader = http.MaxBytesReader(c.Response(), c.Request().Body, maxImportUploadSize+1<<20)
	name := "request body"
	if strings.HasPrefix(c.Request().Header.Get("Content-Type"), "multipart/") {
		fh, err := c.FormFile("file")
		if err != nil {
			return badRequest("multipart field \"file\": %v", err)
		}
		f, err := fh.Open()
		if err != nil {
			return err
		}
		defer f.Close()
		body, name = f, fh.Filename
	}
	res, err := parseUpload(body, c.QueryParam("format"))
	if err != nil {
		return err
	}
	dry := c.QueryParam("dry_run") == "1" || c.QueryParam("dry_run") == "true"
	var sum *userlist.ImportSummary
	if dry {
		sum, err = userlist.Preview(c.Request().Context(), s.o.Projects, p.ID, res)
	} else {
		sum, err = s.importList(c, p, res, name)
	}
	if err != nil {
		return err
	}
	out := importAnswer{Format: res.Format, DryRun: dry, Valid: sum.Added + sum.Updated, Added: sum.Added, Updated: sum.Updated,
		Existing: sum.Unchanged, Errors: sum.Errors, Notes: sum.Notes}
	if out.Errors == nil {
		out.Errors = []userlist.LineError{}
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) apiUsersRetrieve(c echo.Context) error {
	p, err := s.projectParam(c)
	if err != nil {
		return err
	}
	added, existing, err := s.retrieveUsers(c, p)
	if err != nil {
		return fail(c, err)
	}
	return c.JSON(http.StatusOK, importAnswer{Added: added, Existing: existing, Errors: []userlist.LineError{}})
}
