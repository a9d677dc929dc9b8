package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/ternmail/tern/core/internal/logx"
	"github.com/ternmail/tern/core/internal/project"
	"github.com/ternmail/tern/core/internal/selfservice"
)

// Self-service: the public pages of a user's link (/s/<token>) and the
// administrators' side (invitations, the project's self-service page,
// the API). The service (package selfservice) does the work; this file
// shows it.

const (
	routeSelfServiceLink     = "selfservice.link"
	routeSelfServiceSubmit   = "selfservice.submit"
	routeSelfServiceStatus   = "selfservice.status"
	routeSelfServiceSettings = "selfservice.settings"
	routeSelfServiceSave     = "selfservice.save"
	routeSelfServicePreview  = "selfservice.preview"
	routeInvitationsSend     = "invitations.send"
	routeInvitationRevoke    = "invitations.revoke"
	routeInvitationResend    = "invitations.resend"
)

func (s *Server) registerSelfService(con, api *echo.Group) {
	// The public pages: no session, no login; the CSRF check uses the
	// csrf cookie of visitors without a session. Errors never reach the
	// console's error page (it links to the console).
	pub := s.e.Group(strings.TrimSuffix(selfservice.LinkPath, "/"), s.publicErrors, s.csrf)
	pub.GET("/:token", s.selfServiceLink).Name = routeSelfServiceLink
	pub.POST("/:token", s.selfServiceSubmit).Name = routeSelfServiceSubmit
	pub.GET("/:token/status", s.selfServiceStatus).Name = routeSelfServiceStatus

	con.POST("/projects/:p/invitations", s.invitationsSend).Name = routeInvitationsSend
	con.POST("/projects/:p/invitations/:u/revoke", s.invitationControl(s.invitationRevoke)).Name = routeInvitationRevoke
	con.POST("/projects/:p/invitations/:u/resend", s.invitationControl(s.invitationResend)).Name = routeInvitationResend
	con.GET("/projects/:p/selfservice", s.selfServicePage).Name = routeSelfServiceSettings
	con.POST("/projects/:p/selfservice", s.selfServiceSave).Name = routeSelfServiceSave
	con.POST("/projects/:p/selfservice/preview", s.selfServicePreview).Name = routeSelfServicePreview

	api.GET("/projects/:p/invitations", s.apiInvitations)
	api.POST("/projects/:p/invitations", s.apiInvitationsSend)
	api.POST("/projects/:p/invitations/:u/revoke", s.apiInvitationRevoke)
	api.POST("/projects/:p/invitations/:u/resend", s.apiInvitationResend)
	api.GET("/projects/:p/selfservice", s.apiSelfService)
	api.PUT("/projects/:p/selfservice", s.apiSelfServiceUpdate)
}

// ---- Public pages ----

// The answers of the public pages (nothing else of the console shows).
const (
	msgInvalidLink  = "This link is not valid any more. Ask your administrator for a new invitation."
	msgWrong        = "The server refused this password. Check it (and the login) and try again."
	msgTooMany      = "Too many attempts. Wait a quarter of an hour, then try again."
	msgTryLater     = "Your password cannot be checked right now. Please try again later."
	msgFormExpired  = "This form has expired. Go back, reload the page and try again."
	msgPublicFailed = "Something went wrong. Please try again later."
)

// publicView is the dot of the public pages: no administrator, no
// flashes, no version.
type publicView struct {
	Title string
	CSRF  string
	Data  any
}

// renderPublic renders a public page in the public layout.
func (s *Server) renderPublic(c echo.Context, status int, name, title string, data any) error {
	t, ok := s.tmpl.pages[name]
	if !ok {
		return errors.New("no page template " + name)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "public", publicView{Title: title, CSRF: csrfToken(c), Data: data}); err != nil {
		return fmt.Errorf("render %s: %w", name, err)
	}
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Robots-Tag", "noindex, nofollow")
	return c.HTMLBlob(status, buf.Bytes())
}

// invalidLink is the one answer to every link that does not open a page:
// the same status and the same bytes whatever the reason.
func (s *Server) invalidLink(c echo.Context) error {
	return s.renderPublic(c, http.StatusNotFound, "selfservice_message", "Link not valid", msgInvalidLink)
}

// publicErrors answers the public pages' errors with public pages: an
// expired form (CSRF), an invalid link, or a generic line.
func (s *Server) publicErrors(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		err := next(c)
		if err == nil || c.Response().Committed {
			return err
		}
		code, _ := statusOf(err)
		switch {
		case err == errCSRF:
			return s.renderPublic(c, http.StatusForbidden, "selfservice_message", "Form expired", msgFormExpired)
		case code == http.StatusNotFound, errors.Is(err, selfservice.ErrInvalidLink):
			return s.invalidLink(c)
		}
		s.log.Error("self-service page failed", "method", c.Request().Method, "err", logx.Scrub(err.Error()))
		return s.renderPublic(c, http.StatusInternalServerError, "selfservice_message", "Error", msgPublicFailed)
	}
}

// linkData is the data of the password form.
type linkData struct {
	Token string
	Page  *selfservice.PageInfo
	// Failed, if set, says why the last migration failed.
	Failed string
	// Error is the answer to the last try; Login the login given.
	Error string
	Login string
}

// statusData is the data of the status page and its live part.
type statusData struct {
	Token    string
	Server   string
	Progress selfservice.Progress
}

func (s *Server) selfServiceLink(c echo.Context) error {
	ctx := c.Request().Context()
	token := c.Param("token")
	inv, err := s.o.SelfService.Open(ctx, token)
	if err != nil {
		return s.publicError(c, err)
	}
	if inv.CanSubmit() {
		return s.renderLinkForm(c, http.StatusOK, token, inv, "", "")
	}
	return s.renderStatus(c, token, inv)
}

func (s *Server) renderLinkForm(c echo.Context, status int, token string, inv *selfservice.Invitation, msg, login string) error {
	pi, err := s.o.SelfService.Page(c.Request().Context(), inv)
	if err != nil {
		return s.publicError(c, err)
	}
	d := linkData{Token: token, Page: pi, Error: msg, Login: login}
	if inv.State == selfservice.StateFailed {
		d.Failed = inv.Reason
	}
	return s.renderPublic(c, status, "selfservice_link", "Move your mailbox", d)
}

func (s *Server) renderStatus(c echo.Context, token string, inv *selfservice.Invitation) error {
	ctx := c.Request().Context()
	pi, err := s.o.SelfService.Page(ctx, inv)
	if err != nil {
		return s.publicError(c, err)
	}
	return s.renderPublic(c, http.StatusOK, "selfservice_status", "Your mailbox move", statusData{Token: token, Server: pi.Server, Progress: s.o.SelfService.Progress(ctx, inv)})
}

// publicError answers an error of the service on a public page.
func (s *Server) publicError(c echo.Context, err error) error {
	switch {
	case errors.Is(err, selfservice.ErrInvalidLink), errors.Is(err, project.ErrNotFound):
		return s.invalidLink(c)
	case errors.Is(err, selfservice.ErrTryLater):
		return s.renderPublic(c, http.StatusServiceUnavailable, "selfservice_message", "Try again later", msgTryLater)
	}
	return err // publicErrors: a generic page, the cause logged
}

func (s *Server) selfServiceSubmit(c echo.Context) error {
	ctx := c.Request().Context()
	token := c.Param("token")
	login := strings.TrimSpace(c.FormValue("login"))
	inv, err := s.o.SelfService.Submit(ctx, token, clientIP(c), login, c.FormValue("password"))
	switch {
	case err == nil, errors.Is(err, selfservice.ErrSubmitted):
		return redirectTo(c, selfservice.LinkPath+token)
	case errors.Is(err, selfservice.ErrWrongPassword):
		return s.renderLinkForm(c, http.StatusUnprocessableEntity, token, inv, msgWrong, login)
	case errors.Is(err, selfservice.ErrTooManyAttempts):
		return s.renderLinkForm(c, http.StatusTooManyRequests, token, inv, msgTooMany, login)
	case errors.Is(err, selfservice.ErrTryLater) && inv != nil:
		return s.renderLinkForm(c, http.StatusServiceUnavailable, token, inv, msgTryLater, login)
	}
	return s.publicError(c, err)
}

// selfServiceStatus is the live part of the status page (htmx polling).
func (s *Server) selfServiceStatus(c echo.Context) error {
	ctx := c.Request().Context()
	token := c.Param("token")
	inv, err := s.o.SelfService.Verify(ctx, token)
	if err != nil {
		return s.publicError(c, err)
	}
	d := statusData{Token: token, Progress: s.o.SelfService.Progress(ctx, inv)}
	return s.renderPartial(c, http.StatusOK, "selfservice_progress", d)
}

// ---- Administrators ----

// linkBase is the base URL of links: the configured public URL, else
// the console's own origin as this request reached it.
func (s *Server) linkBase(c echo.Context) string {
	if s.o.PublicURL != "" {
		return s.o.PublicURL
	}
	scheme := "http"
	if c.Request().TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + c.Request().Host
}

func adminName(c echo.Context) string {
	if a := currentAdmin(c); a != nil {
		return a.Name
	}
	return "api"
}

// sendInvitations sends (or re-sends) the invitations of users of p and
// records each (console and API).
func (s *Server) sendInvitations(c echo.Context, p *project.Project, ids []string) ([]selfservice.SendResult, error) {
	rs, err := s.o.SelfService.Send(c.Request().Context(), p.ID, ids, s.linkBase(c), adminName(c))
	if err != nil {
		return nil, err
	}
	for _, r := range rs {
		if r.Error != "" {
			continue
		}
		action := "invitation.send"
		if r.Resent {
			action = "invitation.resend"
		}
		s.record(c, action, "user "+r.SourceUser+" of project "+p.Name, "to "+r.Recipient+", link valid until "+when(r.Invitation.Expires))
	}
	return rs, nil
}

func (s *Server) revokeInvitation(c echo.Context, p *project.Project, u *project.User) (*selfservice.Invitation, error) {
	inv, err := s.o.SelfService.Revoke(c.Request().Context(), p.ID, u.ID, adminName(c))
	if errors.Is(err, selfservice.ErrNotFound) {
		return nil, echo.NewHTTPError(http.StatusNotFound, "user "+u.SourceUser+" has no invitation")
	}
	if err != nil {
		return nil, err
	}
	s.record(c, "invitation.revoke", "user "+u.SourceUser+" of project "+p.Name, "the link stops working")
	return inv, nil
}

// sendSummary is the flash after sending invitations.
func sendSummary(rs []selfservice.SendResult) (string, []string) {
	n := 0
	var errs []string
	for _, r := range rs {
		if r.Error == "" {
			n++
		} else {
			errs = append(errs, r.Error)
		}
	}
	return strconv.Itoa(n) + " invitations sent.", errs
}

func (s *Server) flashSend(c echo.Context, rs []selfservice.SendResult) {
	ok, errs := sendSummary(rs)
	s.flash(c, FlashSuccess, ok)
	for _, e := range errs {
		s.flash(c, FlashError, "Not sent: "+e)
	}
}

func (s *Server) invitationsSend(c echo.Context) error {
	p, ids, err := s.selectedUsers(c, "invite")
	if err == nil && len(ids) > 0 {
		var rs []selfservice.SendResult
		if rs, err = s.sendInvitations(c, p, ids); err == nil {
			s.flashSend(c, rs)
		}
	}
	return s.redirectOr(c, err, routeUsers, p)
}

// redirectOr returns err, or without one redirects to route of p.
func (s *Server) redirectOr(c echo.Context, err error, route string, p *project.Project) error {
	if err != nil {
		return err
	}
	return s.redirect(c, route, p.ID)
}

// invitationControl is a button of an invitation's row on the
// self-service page: do, then back to the page.
func (s *Server) invitationControl(do func(echo.Context, *project.Project, *project.User) error) echo.HandlerFunc {
	return func(c echo.Context) error {
		p, u, err := s.projectUser(c)
		if err == nil {
			err = do(c, p, u)
		}
		return s.redirectOr(c, err, routeSelfServiceSettings, p)
	}
}

func (s *Server) invitationResend(c echo.Context, p *project.Project, u *project.User) error {
	rs, err := s.sendInvitations(c, p, []string{u.ID})
	if err == nil {
		s.flashSend(c, rs)
	}
	return err
}

func (s *Server) invitationRevoke(c echo.Context, p *project.Project, u *project.User) error {
	if _, err := s.revokeInvitation(c, p, u); err != nil {
		return err
	}
	s.flash(c, FlashSuccess, "The link of "+u.SourceUser+" was revoked.")
	return nil
}

// invitationRow is a user's invitation on the self-service page.
type invitationRow struct {
	User *project.User
	Inv  *selfservice.Invitation
}

type selfServiceData struct {
	Project     *project.Project
	Settings    *selfservice.Settings
	Windows     string
	Preview     []selfservice.Rendered
	Invitations []invitationRow
	Batch       *project.Batch
	Errors      map[string]string
	// Previewing says the form shows unsaved settings.
	Previewing bool
}

// projectSettings loads the :p project and its self-service settings.
func (s *Server) projectSettings(c echo.Context) (*project.Project, *selfservice.Settings, error) {
	p, err := s.projectParam(c)
	if err != nil {
		return nil, nil, err
	}
	st, err := s.o.SelfService.Settings(c.Request().Context(), p.ID)
	return p, st, err
}

func (s *Server) selfServicePage(c echo.Context) error {
	p, st, err := s.projectSettings(c)
	if err != nil {
		return err
	}
	return s.renderSelfService(c, http.StatusOK, p, st, nil, false)
}

func (s *Server) renderSelfService(c echo.Context, status int, p *project.Project, st *selfservice.Settings, errs map[string]string, previewing bool) error {
	ctx := c.Request().Context()
	d := selfServiceData{Project: p, Settings: st, Windows: windowLines(st.Windows), Preview: st.Templates.Preview(), Errors: errs, Previewing: previewing}
	invs, err := s.o.SelfService.Invitations(ctx, p.ID)
	if err != nil {
		return err
	}
	for _, inv := range invs {
		u, err := s.o.Projects.User(ctx, p.ID, inv.User)
		if err != nil {
			continue // deleted: the sweeper drops it
		}
		d.Invitations = append(d.Invitations, invitationRow{User: u, Inv: inv})
	}
	if cur, err := s.o.SelfService.Settings(ctx, p.ID); err == nil && cur.Batch != "" {
		d.Batch, _ = s.o.Projects.Batch(ctx, p.ID, cur.Batch)
	}
	return s.render(c, Page{Name: "selfservice", Title: "Self-service of " + p.Name, Status: status, Data: d, Nav: "projects"})
}

func windowLines(ws []project.Window) string {
	lines := make([]string, len(ws))
	for i, w := range ws {
		lines[i] = w.String()
	}
	return strings.Join(lines, "\n")
}

// settingsForm reads the self-service form; the error names the field.
func settingsForm(c echo.Context) (*selfservice.Settings, map[string]string) {
	st := &selfservice.Settings{
		Templates: selfservice.Templates{
			Invitation: selfservice.Template{Subject: c.FormValue("invitation_subject"), Text: c.FormValue("invitation_text")},
			Done:       selfservice.Template{Subject: c.FormValue("done_subject"), Text: c.FormValue("done_text")},
			Failed:     selfservice.Template{Subject: c.FormValue("failed_subject"), Text: c.FormValue("failed_text")},
		},
		AllowLogin: c.FormValue("allow_login") != "",
		Recipient:  c.FormValue("recipient"),
	}
	errs := map[string]string{}
	num := func(field, what string) int {
		v := strings.TrimSpace(c.FormValue(field))
		if v == "" {
			return 0
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			errs[field] = what + ": " + strconv.Quote(v) + " is not a whole number"
		}
		return n
	}
	st.LinkDays = num("link_days", "link lifetime")
	st.RetentionHours = num("retention_hours", "password retention")
	st.Concurrency = num("concurrency", "mailboxes at once")
	ws, err := parseWindowLines(strings.Split(c.FormValue("windows"), "\n"))
	if err != nil {
		errs["windows"] = err.Error()
	}
	st.Windows = ws
	if len(errs) == 0 {
		if err := st.Validate(); err != nil {
			errs["form"] = err.Error()
		}
	}
	return st, errs
}

func parseWindowLines(lines []string) ([]project.Window, error) {
	ws := []project.Window{}
	for _, line := range lines {
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		w, err := project.ParseWindow(line)
		if err != nil {
			return ws, err
		}
		ws = append(ws, w)
	}
	return ws, nil
}

func (s *Server) selfServiceSave(c echo.Context) error {
	p, err := s.projectParam(c)
	if err != nil {
		return err
	}
	st, errs := settingsForm(c)
	if len(errs) > 0 {
		return s.renderSelfService(c, http.StatusUnprocessableEntity, p, st, errs, true)
	}
	if err := s.saveSelfService(c, p, st); err != nil {
		msg, err := formError(err)
		if err != nil {
			return err
		}
		return s.renderSelfService(c, http.StatusUnprocessableEntity, p, st, map[string]string{"form": msg}, true)
	}
	s.flash(c, FlashSuccess, "Self-service settings saved.")
	return s.redirect(c, routeSelfServiceSettings, p.ID)
}

// saveSelfService stores a project's settings and records it (console
// and API).
func (s *Server) saveSelfService(c echo.Context, p *project.Project, st *selfservice.Settings) error {
	if err := s.o.SelfService.SaveSettings(c.Request().Context(), p.ID, st); err != nil {
		if errors.Is(err, project.ErrNotFound) {
			return err
		}
		return badRequest("%v", err)
	}
	detail := "links valid " + strconv.Itoa(st.LinkDays) + " days; passwords kept " + strconv.Itoa(st.RetentionHours) + " h after the move; recipient " + st.Recipient
	if st.AllowLogin {
		detail += "; own logins allowed"
	}
	if len(st.Windows) > 0 {
		detail += "; during " + strings.ReplaceAll(windowLines(st.Windows), "\n", ", ")
	}
	s.record(c, "selfservice.update", "project "+p.Name, detail+"; templates saved")
	return nil
}

func (s *Server) selfServicePreview(c echo.Context) error {
	p, err := s.projectParam(c)
	if err != nil {
		return err
	}
	st, errs := settingsForm(c)
	return s.renderSelfService(c, http.StatusOK, p, st, errs, true)
}

// ---- API ----

// invitationView is an invitation as the API shows it: not the link's
// id nor its base (the empty fields hide the invitation's), with the
// user's login; a send that failed has only the user and the error.
type invitationView struct {
	*selfservice.Invitation
	ID         string `json:"id,omitempty"`
	Base       string `json:"base,omitempty"`
	User       string `json:"user"`
	SourceUser string `json:"source_user,omitempty"`
	Recipient  string `json:"recipient,omitempty"`
	Resent     bool   `json:"resent,omitempty"`
	Error      string `json:"error,omitempty"`
}

func viewOf(inv *selfservice.Invitation, login string) invitationView {
	return invitationView{Invitation: inv, User: inv.User, SourceUser: login, Recipient: inv.Recipient}
}

func (s *Server) apiInvitations(c echo.Context) error {
	p, err := s.projectParam(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	invs, err := s.o.SelfService.Invitations(ctx, p.ID)
	if err != nil {
		return err
	}
	out := []invitationView{}
	for _, inv := range invs {
		login := ""
		if u, err := s.o.Projects.User(ctx, p.ID, inv.User); err == nil {
			login = u.SourceUser
		}
		out = append(out, viewOf(inv, login))
	}
	return c.JSON(http.StatusOK, out)
}

// apiInvitationsSend: {"users": [ids or logins], "status": [...], "all": bool}.
func (s *Server) apiInvitationsSend(c echo.Context) error {
	p, err := s.projectParam(c)
	if err != nil {
		return err
	}
	var in batchInput
	if err := c.Bind(&in); err != nil {
		return badRequest("body: %v", err)
	}
	ids, err := s.selectUsers(c.Request().Context(), p, &in)
	if err != nil {
		return err
	}
	rs, err := s.sendInvitations(c, p, ids)
	if err != nil {
		return err
	}
	out := make([]invitationView, 0, len(rs))
	for _, r := range rs {
		v := invitationView{User: r.User, SourceUser: r.SourceUser, Recipient: r.Recipient, Error: r.Error}
		if r.Invitation != nil {
			v = viewOf(r.Invitation, r.SourceUser)
			v.Resent = r.Resent
		}
		out = append(out, v)
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) apiInvitationRevoke(c echo.Context) error {
	p, u, err := s.projectUser(c)
	if err != nil {
		return err
	}
	inv, err := s.revokeInvitation(c, p, u)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewOf(inv, u.SourceUser))
}

func (s *Server) apiInvitationResend(c echo.Context) error {
	p, u, err := s.projectUser(c)
	if err != nil {
		return err
	}
	rs, err := s.sendInvitations(c, p, []string{u.ID})
	if err != nil {
		return err
	}
	if rs[0].Error != "" {
		return echo.NewHTTPError(http.StatusConflict, rs[0].Error)
	}
	v := viewOf(rs[0].Invitation, u.SourceUser)
	v.Resent = rs[0].Resent
	return c.JSON(http.StatusOK, v)
}

// selfServiceJSON is the API's form of the settings: windows as lines
// ("mon-fri 20:00-06:00").
type selfServiceJSON struct {
	Templates      selfservice.Templates `json:"templates"`
	LinkDays       int                   `json:"link_days"`
	AllowLogin     bool                  `json:"allow_login"`
	RetentionHours int                   `json:"retention_hours"`
	Recipient      string                `json:"recipient"`
	Windows        []string              `json:"windows"`
	Concurrency    int                   `json:"concurrency"`
	// Batch is the standing self-service batch (read only).
	Batch string `json:"batch,omitempty"`
}

func settingsJSON(st *selfservice.Settings) selfServiceJSON {
	ws := []string{}
	for _, w := range st.Windows {
		ws = append(ws, w.String())
	}
	return selfServiceJSON{Templates: st.Templates, LinkDays: st.LinkDays, AllowLogin: st.AllowLogin, RetentionHours: st.RetentionHours,
		Recipient: st.Recipient, Windows: ws, Concurrency: st.Concurrency, Batch: st.Batch}
}

func (s *Server) apiSelfService(c echo.Context) error {
	_, st, err := s.projectSettings(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, settingsJSON(st))
}

// apiSelfServiceUpdate changes the fields the body names; the others
// keep their values.
func (s *Server) apiSelfServiceUpdate(c echo.Context) error {
	p, cur, err := s.projectSettings(c)
	if err != nil {
		return err
	}
	in := settingsJSON(cur)
	if err := json.NewDecoder(http.MaxBytesReader(c.Response(), c.Request().Body, 1<<20)).Decode(&in); err != nil {
		return badRequest("body: %v", err)
	}
	ws, err := parseWindowLines(in.Windows)
	if err != nil {
		return badRequest("windows: %v", err)
	}
	st := &selfservice.Settings{Templates: in.Templates, LinkDays: in.LinkDays, AllowLogin: in.AllowLogin, RetentionHours: in.RetentionHours,
		Recipient: in.Recipient, Windows: ws, Concurrency: in.Concurrency}
	if err := s.saveSelfService(c, p, st); err != nil {
		return err
	}
	st, err = s.o.SelfService.Settings(c.Request().Context(), p.ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, settingsJSON(st))
}
