package main_test

// Steps in the console that more than one browser test takes: the first
// login with its forced password change, an IMAP connector made with the
// form, a project, a user added by hand.

import (
	"strconv"
	"strings"
	"time"

	"github.com/ternmail/tern/internal/testserver"
)

// firstLogin logs in with the one-time password the daemon printed,
// which the console accepts only to choose a password of one's own
// (newPassword); then logs out and in again with it.
func (c *console) firstLogin(newPassword string) {
	t, d := c.t, c.d
	t.Helper()
	if d.OneTimePassword == "" {
		t.Fatalf("the first start printed no one-time password:\n%s", d.Log())
	}
	c.open("/")
	if !strings.Contains(c.tab.URL(), "/login") {
		t.Fatalf("the console opened without a login: %s", c.tab.URL())
	}
	c.login("admin", d.OneTimePassword)
	if !strings.HasSuffix(c.tab.URL(), "/account/password") {
		t.Fatalf("after the first login: %s, want the password page", c.tab.URL())
	}
	c.tab.WaitText("main", "the one you logged in with was for one use", 5*time.Second)
	c.open("/connectors") // any other page leads back to the password page
	if !strings.HasSuffix(c.tab.URL(), "/account/password") {
		t.Fatalf("the console opened %s before the one-time password was changed", c.tab.URL())
	}
	c.fill("password form", `input[name=current]`, d.OneTimePassword, `input[name=new]`, newPassword, `input[name=confirm]`, newPassword)
	c.submit("change the password", `main form button[type=submit]`)
	c.tab.WaitText("#messages", "Your password is changed", 5*time.Second)
	c.submit("log out", `form.logout button`)
	c.tab.WaitText("main", "You are logged out", 5*time.Second)
	c.login("admin", newPassword)
	if u := c.tab.URL(); u != d.Addr+"/" {
		t.Fatalf("after logging in with the new password: %s", u)
	}
}

// addConnector makes an IMAP connector to inst (STARTTLS, the test CA)
// with the form generated from the imap plugin's settings schema; magic
// is its magic password, "" for none (each user's own password).
func (c *console) addConnector(name string, inst testserver.Instance, magic string) {
	c.t.Helper()
	c.open("/connectors/new")
	c.fill("plugin", `select[name=plugin]`, "imap")
	c.submit("choose the plugin", `main form button[type=submit]`)
	fields := []string{`input[name=name]`, name,
		`#f-host`, inst.Host, `#f-port`, strconv.Itoa(inst.Port), `#f-tls`, "starttls", `#f-ca_file`, testserver.CAFile()}
	if magic != "" {
		fields = append(fields, `input[name=admin_password]`, magic)
	}
	c.fill("connector "+name, fields...)
	c.submit("create connector "+name, `main form[method=post] button[type=submit]`)
	c.tab.WaitText("#messages", "Connector "+name+" saved", 5*time.Second)
}

// createProject makes a project with the form of the projects page and
// returns its path (/projects/<id>); the console shows its users page.
func (c *console) createProject(name, source, target string) string {
	c.t.Helper()
	c.open("/projects")
	c.fill("new project", `#project-new input[name=name]`, name,
		`#project-new select[name=source]`, source, `#project-new select[name=target]`, target)
	c.submit("create the project", `#project-new button[type=submit]`)
	usersURL := c.tab.URL()
	if !strings.HasSuffix(usersURL, "/users") {
		c.t.Fatalf("after creating the project: %s, want its users page", usersURL)
	}
	return strings.TrimSuffix(strings.TrimPrefix(usersURL, c.d.Addr), "/users")
}

// addUser adds a user with the form of the users page (open).
func (c *console) addUser(src, dst string) {
	c.t.Helper()
	c.fill("new user", `#user-new input[name=source_user]`, src, `#user-new input[name=target_user]`, dst)
	c.submit("add user "+src, `#user-new button[type=submit]`)
	c.tab.WaitText("#messages", "User "+src+" → "+dst+" added", 5*time.Second)
}

// noSecretIn fails the test if text (a page, a download, an e-mail, a
// log) shows a password of c's.
func (c *console) noSecretIn(what, text string) {
	c.t.Helper()
	for _, re := range c.secrets {
		if re.MatchString(text) {
			c.t.Fatalf("%s shows a password (%s)", what, re)
		}
	}
}
