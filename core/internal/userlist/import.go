package userlist

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/ternmail/tern/core/internal/project"
)

// ImportSummary is what Import did.
type ImportSummary struct {
	// Added counts new users; Updated counts users already in the project
	// with the same target whose passwords the list gave; Unchanged
	// counts users already there that the list gave nothing new for.
	Added     int `json:"added"`
	Updated   int `json:"updated"`
	Unchanged int `json:"unchanged"`
	// Errors are the lines not imported, in line order: the parse's
	// errors and the entries that conflict with the project's users.
	Errors []LineError `json:"errors"`
	// Notes are lines imported with something left out (the Exchange
	// UserRoot, which a Tern user has no place for yet).
	Notes []LineError `json:"notes,omitempty"`
}

// Import adds the entries of a parsed list to a project, as users with
// the given origin ("csv" if empty), and stores their own passwords in
// the secrets layer.
//
// Every entry is checked against the project's users before anything is
// written: a source login already in the project with the same target is
// updated (its passwords, if the line gives any); with another target, or
// a target already used by another source login, the line is listed in
// Errors and left out. Valid lines are imported, invalid ones listed.
//
// No user is left half-created: a user whose passwords cannot be stored
// is deleted again. A storage error stops the import; the error says how
// many users were written before it, and the summary counts them.
func Import(ctx context.Context, st *project.Store, projectID string, res *Result, origin string) (*ImportSummary, error) {
	sum, writes, err := plan(ctx, st, projectID, res, origin)
	if err != nil {
		return nil, err
	}
	for i, w := range writes {
		stop := func(err error) (*ImportSummary, error) {
			return sum, fmt.Errorf("import stopped at line %d after %d of %d users were written (%d added, %d updated): %w",
				w.e.Line, i, len(writes), sum.Added, sum.Updated, err)
		}
		if err := ctx.Err(); err != nil {
			return stop(err)
		}
		if !w.add {
			if err := st.SetUserPasswords(ctx, projectID, w.user.ID, w.e.SourcePassword, w.e.TargetPassword); err != nil {
				return stop(err)
			}
			sum.Updated++
			continue
		}
		if err := st.PutUser(ctx, w.user); err != nil {
			return stop(err)
		}
		if w.e.HasPasswords() {
			if err := st.SetUserPasswords(ctx, projectID, w.user.ID, w.e.SourcePassword, w.e.TargetPassword); err != nil {
				// Take the user out again rather than leave it without
				// the passwords the list gave.
				if derr := st.DeleteUser(context.WithoutCancel(ctx), projectID, w.user.ID); derr != nil {
					err = fmt.Errorf("%w; removing the half-created user %s failed too: %v", err, w.user.SourceUser, derr)
				}
				return stop(err)
			}
		}
		sum.Added++
	}
	return sum, nil
}

// Preview says what Import would do with res, writing nothing: Added and
// Updated count the users it would add and update, Errors the lines it
// would leave out.
func Preview(ctx context.Context, st *project.Store, projectID string, res *Result) (*ImportSummary, error) {
	sum, writes, err := plan(ctx, st, projectID, res, "")
	if err != nil {
		return nil, err
	}
	for _, w := range writes {
		if w.add {
			sum.Added++
		} else {
			sum.Updated++
		}
	}
	return sum, nil
}

// write is one user Import adds (add) or whose passwords it updates.
type write struct {
	e    Entry
	user *project.User
	add  bool
}

// plan checks every entry against the project's users and returns the
// writes to make; the summary has the errors, notes and unchanged count.
func plan(ctx context.Context, st *project.Store, projectID string, res *Result, origin string) (*ImportSummary, []write, error) {
	if res == nil {
		return nil, nil, errors.New("import: no user list")
	}
	if origin == "" {
		origin = "csv"
	}
	if _, err := st.Project(ctx, projectID); err != nil {
		return nil, nil, fmt.Errorf("project %s: %w", projectID, err)
	}
	existing, err := st.Users(ctx, projectID)
	if err != nil {
		return nil, nil, fmt.Errorf("list the users of project %s: %w", projectID, err)
	}
	bySource := map[string]*project.User{}
	byTarget := map[string]*project.User{}
	for _, u := range existing {
		bySource[strings.ToLower(u.SourceUser)] = u
		byTarget[strings.ToLower(u.TargetUser)] = u
	}
	sum := &ImportSummary{Errors: append([]LineError(nil), res.Errors...)}
	var writes []write
	listed := map[string]int{} // lower-cased source login or target → line added from
	for _, e := range res.Entries {
		fail := func(format string, args ...any) {
			sum.Errors = append(sum.Errors, LineError{Line: e.Line, Reason: fmt.Sprintf(format, args...), Text: e.Text})
		}
		if first, ok := listed["s"+strings.ToLower(e.SourceUser)]; ok {
			// Parse lets a source login repeat with different Exchange
			// UserRoots; a Tern user is one source login.
			fail("source login %q is imported from line %d already; a Tern user is one source login (give each user's own login as UserName)", e.SourceUser, first)
			continue
		}
		if first, ok := listed["t"+strings.ToLower(e.TargetUser)]; ok {
			fail("target %s is imported from line %d already", e.TargetUser, first)
			continue
		}
		if u := bySource[strings.ToLower(e.SourceUser)]; u != nil {
			switch {
			case !strings.EqualFold(u.TargetUser, e.TargetUser):
				fail("source login %q is already in the project with target %s", u.SourceUser, u.TargetUser)
			case e.HasPasswords():
				writes = append(writes, write{e: e, user: u})
			default:
				sum.Unchanged++
			}
			continue
		}
		if u := byTarget[strings.ToLower(e.TargetUser)]; u != nil {
			fail("target %s is already in the project, for source login %q", u.TargetUser, u.SourceUser)
			continue
		}
		u := &project.User{Project: projectID, SourceUser: e.SourceUser, TargetUser: e.TargetUser, Origin: origin}
		if err := u.Validate(); err != nil {
			fail("%v", err)
			continue
		}
		listed["s"+strings.ToLower(u.SourceUser)] = e.Line
		listed["t"+strings.ToLower(u.TargetUser)] = e.Line
		writes = append(writes, write{e: e, user: u, add: true})
		if e.UserRoot != "" {
			sum.Notes = append(sum.Notes, LineError{Line: e.Line, Text: e.Text,
				Reason: fmt.Sprintf("UserRoot %q is not used: a Tern user has no folder root of its own (the source connector finds the user's folders itself)", e.UserRoot)})
		}
	}
	sort.SliceStable(sum.Errors, func(i, j int) bool { return sum.Errors[i].Line < sum.Errors[j].Line })

	return sum, writes, nil
}
