// Package ui holds the console's templates and static assets, embedded in
// the tern binary. It imports nothing of core; core/internal/web parses
// and serves them.
//
//	templates/layouts/base.html   the page frame: head (CSP-safe: no inline
//	                              script or style), nav, messages, content
//	templates/pages/<page>.html   one file per page; defines "title" and "content"
//	templates/partials/*.html     fragments shared by pages and sent alone to htmx
//	static/                       tern.css and htmx.min.js (vendored by
//	                              scripts/fetch-htmx.sh from the npm package htmx.org)
package ui

import "embed"

// Templates are the html/template files.
//
//go:embed templates
var Templates embed.FS

// Static are the files served under /static/.
//
//go:embed static
var Static embed.FS
