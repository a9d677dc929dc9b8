package project

import (
	"fmt"
	"strings"
	"time"
)

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// ParseWindow reads a window as an admin writes it: "20:00-06:00" (every
// day), "mon-fri 20:00-06:00", "sat,sun 00:00-23:59".
func ParseWindow(s string) (Window, error) {
	var w Window
	f := strings.Fields(strings.ToLower(strings.TrimSpace(s)))
	if len(f) == 0 || len(f) > 2 {
		return w, fmt.Errorf("window %q: want [DAYS] HH:MM-HH:MM, e.g. \"mon-fri 20:00-06:00\"", s)
	}
	times := f[len(f)-1]
	start, end, ok := strings.Cut(times, "-")
	if !ok {
		return w, fmt.Errorf("window %q: want HH:MM-HH:MM", s)
	}
	w.Start, w.End = start, end
	if len(f) == 2 {
		for _, part := range strings.Split(f[0], ",") {
			from, to, isRange := strings.Cut(part, "-")
			a, ok1 := weekdays[from]
			b, ok2 := weekdays[to]
			if !ok1 || (isRange && !ok2) {
				return w, fmt.Errorf("window %q: %q is not a day (mon, tue, wed, thu, fri, sat, sun)", s, part)
			}
			if !isRange {
				b = a
			}
			for d := a; ; d = (d + 1) % 7 {
				w.Days = append(w.Days, d)
				if d == b {
					break
				}
			}
		}
	}
	return w, w.Validate()
}

// String writes a window as ParseWindow reads it.
func (w Window) String() string {
	if len(w.Days) == 0 {
		return w.Start + "-" + w.End
	}
	names := make([]string, len(w.Days))
	for i, d := range w.Days {
		names[i] = strings.ToLower(d.String()[:3])
	}
	return strings.Join(names, ",") + " " + w.Start + "-" + w.End
}
