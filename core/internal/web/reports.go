package web

import "github.com/labstack/echo/v4"

// registerReports registers the reports pages and API calls.
func (s *Server) registerReports(con, api *echo.Group) {}
