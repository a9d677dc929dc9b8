package project

import (
	"slices"
	"testing"
	"time"
)

func TestParseWindow(t *testing.T) {
	for in, want := range map[string]Window{
		"20:00-06:00":             {Start: "20:00", End: "06:00"},
		"Mon-Fri 20:00-06:00":     {Days: []time.Weekday{1, 2, 3, 4, 5}, Start: "20:00", End: "06:00"},
		"sat,sun 00:00-23:59":     {Days: []time.Weekday{6, 0}, Start: "00:00", End: "23:59"},
		"fri-mon 18:00-08:00":     {Days: []time.Weekday{5, 6, 0, 1}, Start: "18:00", End: "08:00"},
		"mon,wed-thu 09:00-17:00": {Days: []time.Weekday{1, 3, 4}, Start: "09:00", End: "17:00"},
	} {
		got, err := ParseWindow(in)
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		if got.Start != want.Start || got.End != want.End || !slices.Equal(got.Days, want.Days) {
			t.Errorf("%q = %+v, want %+v", in, got, want)
		}
		if again, err := ParseWindow(got.String()); err != nil || !slices.Equal(again.Days, got.Days) {
			t.Errorf("%q: String %q does not read back: %v", in, got.String(), err)
		}
	}
	for _, bad := range []string{"", "nights", "mon-fri", "xyz 20:00-06:00", "mon 20:00-20:00", "mon 25:00-06:00", "a b c"} {
		if _, err := ParseWindow(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}
