package web

import "github.com/labstack/echo/v4"

// registerBatches registers the batches pages and API calls.
func (s *Server) registerBatches(con, api *echo.Group) {}
