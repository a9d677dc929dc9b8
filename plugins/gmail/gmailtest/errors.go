package gmailtest

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// Google's JSON error shape (target-apis.md §1.5, §5.1.6):
//
//	{"error":{"code":403,"message":"…","errors":[{"domain":"usageLimits","reason":"userRateLimitExceeded","message":"…"}],"status":"PERMISSION_DENIED"}}
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    int         `json:"code"`
	Message string      `json:"message"`
	Errors  []errorItem `json:"errors"`
	Status  string      `json:"status,omitempty"`
}

type errorItem struct {
	Domain       string `json:"domain"`
	Reason       string `json:"reason"`
	Message      string `json:"message"`
	LocationType string `json:"locationType,omitempty"`
	Location     string `json:"location,omitempty"`
}

// apiError is an error answer of the emulated API.
type apiError struct {
	code       int
	reason     string
	message    string
	location   string // header or parameter name, for authError/badRequest
	retryAfter time.Duration
}

func (e *apiError) Error() string { return strconv.Itoa(e.code) + " " + e.reason + ": " + e.message }

func newAPIError(code int, reason, message string) *apiError {
	return &apiError{code: code, reason: reason, message: message}
}

// Canonical status strings of Google's error model (google.rpc.Code names).
func statusFor(code int, reason string) string {
	switch code {
	case 400:
		if reason == "failedPrecondition" {
			return "FAILED_PRECONDITION"
		}
		return "INVALID_ARGUMENT"
	case 401:
		return "UNAUTHENTICATED"
	case 403:
		return "PERMISSION_DENIED"
	case 404:
		return "NOT_FOUND"
	case 409:
		return "ABORTED"
	case 413:
		return "INVALID_ARGUMENT"
	case 429:
		return "RESOURCE_EXHAUSTED"
	case 500:
		return "INTERNAL"
	case 503:
		return "UNAVAILABLE"
	}
	return "UNKNOWN"
}

func domainFor(reason string) string {
	switch reason {
	case "userRateLimitExceeded", "rateLimitExceeded", "dailyLimitExceeded", "quotaExceeded":
		return "usageLimits"
	}
	return "global"
}

func writeAPIError(w http.ResponseWriter, e *apiError) {
	item := errorItem{Domain: domainFor(e.reason), Reason: e.reason, Message: e.message}
	if e.location != "" {
		item.Location = e.location
		item.LocationType = "parameter"
		if e.location == "Authorization" {
			item.LocationType = "header"
		}
	}
	body := errorBody{Error: errorDetail{Code: e.code, Message: e.message, Errors: []errorItem{item}, Status: statusFor(e.code, e.reason)}}
	if e.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((e.retryAfter+time.Second-1)/time.Second)))
	}
	if e.code == 401 {
		w.Header().Set("WWW-Authenticate", `Bearer realm="https://accounts.google.com/", error="invalid_token"`)
	}
	writeJSON(w, e.code, body)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// Frequently used errors, with the messages of Gmail's error guide (gmail/api/guides/handle-errors, §1.5).
func errBadRequest(msg string) *apiError { return newAPIError(400, "badRequest", msg) }
func errInvalidArgument(msg string) *apiError {
	return newAPIError(400, "invalidArgument", msg)
}
func errNotFound() *apiError { return newAPIError(404, "notFound", "Requested entity was not found.") }
func errAuth() *apiError {
	e := newAPIError(401, "authError", "Invalid Credentials")
	e.location = "Authorization"
	return e
}
func errInsufficientScope() *apiError {
	return newAPIError(403, "insufficientPermissions", "Request had insufficient authentication scopes.")
}
func errBackend() *apiError { return newAPIError(503, "backendError", "Backend Error") }
