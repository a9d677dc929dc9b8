package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
)

// Results is everything one benchmark run measured.
type Results struct {
	RunID           string      `json:"run_id"`
	Users           int         `json:"users"`
	PerUser         int         `json:"per_user"`
	Seed            int64       `json:"seed"`
	Work            string      `json:"work_dir"`
	SourcePrefix    string      `json:"source_prefix"`
	SourceMessages  int         `json:"source_messages"`
	SourceBytes     int64       `json:"source_bytes"`
	Seeding         *SeedResult `json:"seeding,omitempty"`
	SnapshotSeconds float64     `json:"source_snapshot_seconds,omitempty"`
	Tern            *ToolResult `json:"tern,omitempty"`
	Mbsync          *ToolResult `json:"mbsync,omitempty"`
}

// SeedResult describes seeding the source.
type SeedResult struct {
	Messages   int     `json:"messages"`
	Bytes      int64   `json:"bytes"`
	Seconds    float64 `json:"seconds"`
	Conns      int     `json:"connections"`
	MBps       float64 `json:"mb_per_sec"`
	MsgsPerSec float64 `json:"msgs_per_sec"`
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func (r *Results) print(asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	w := os.Stdout
	fmt.Fprintf(w, "\nTern benchmark %s: %d users × %d messages (seed %d)", r.RunID, r.Users, r.PerUser, r.Seed)
	if r.SourceMessages > 0 {
		fmt.Fprintf(w, "; source %d messages, %.3f GB", r.SourceMessages, float64(r.SourceBytes)/1e9)
	}
	fmt.Fprintln(w)
	if s := r.Seeding; s != nil {
		fmt.Fprintf(w, "seeding: %.1f s over %d connections, %.1f MB/s, %.0f msg/s\n", s.Seconds, s.Conns, s.MBps, s.MsgsPerSec)
	}
	if r.SnapshotSeconds > 0 {
		fmt.Fprintf(w, "source snapshot (fetch + SHA-256 of every message): %.1f s\n", r.SnapshotSeconds)
	}
	var tools []*ToolResult
	for _, t := range []*ToolResult{r.Tern, r.Mbsync} {
		if t != nil {
			tools = append(tools, t)
		}
	}
	if len(tools) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	row := func(name string, f func(t *ToolResult) string, ratio func(t *ToolResult) float64) {
		fmt.Fprintf(tw, "%s\t", name)
		for _, t := range tools {
			fmt.Fprintf(tw, "%s\t", f(t))
		}
		if len(tools) == 2 && ratio != nil {
			a, b := ratio(tools[0]), ratio(tools[1])
			if b != 0 {
				fmt.Fprintf(tw, "%.2f×\t", a/b)
			} else {
				fmt.Fprint(tw, "–\t")
			}
		}
		fmt.Fprintln(tw)
	}
	head := "\t"
	for _, t := range tools {
		head += t.Tool + "\t"
	}
	if len(tools) == 2 {
		head += "tern/mbsync\t"
	}
	fmt.Fprintln(tw, head)
	row("migrate wall time", func(t *ToolResult) string { return fmt.Sprintf("%.1f s", t.First.Seconds) }, func(t *ToolResult) float64 { return t.First.Seconds })
	row("messages/s", func(t *ToolResult) string { return fmt.Sprintf("%.0f", t.MsgsPerSec) }, func(t *ToolResult) float64 { return t.MsgsPerSec })
	row("MB/s", func(t *ToolResult) string { return fmt.Sprintf("%.1f", t.MBps) }, func(t *ToolResult) float64 { return t.MBps })
	row("CPU (user+sys)", func(t *ToolResult) string { return fmt.Sprintf("%.1f s", t.First.CPUSeconds) }, func(t *ToolResult) float64 { return t.First.CPUSeconds })
	row("peak RSS (sampled sum)", func(t *ToolResult) string { return mib(t.First.PeakRSS) }, func(t *ToolResult) float64 { return float64(t.First.PeakRSS) })
	row("sum of VmHWM (upper bound)", func(t *ToolResult) string { return mib(t.First.SumHWM) }, func(t *ToolResult) float64 { return float64(t.First.SumHWM) })
	row("exit status", func(t *ToolResult) string { return codes(t.First.ExitCodes) }, nil)
	row("no-change re-run", func(t *ToolResult) string { return fmt.Sprintf("%.2f s", t.Rerun.Seconds) }, func(t *ToolResult) float64 { return t.Rerun.Seconds })
	row("re-run peak RSS", func(t *ToolResult) string { return mib(t.Rerun.PeakRSS) }, func(t *ToolResult) float64 { return float64(t.Rerun.PeakRSS) })
	row("re-run exit status", func(t *ToolResult) string { return codes(t.Rerun.ExitCodes) }, nil)
	v := func(f func(v *Verify) string) func(t *ToolResult) string {
		return func(t *ToolResult) string {
			if t.Verify == nil {
				return "–"
			}
			return f(t.Verify)
		}
	}
	row("target equals source", v(func(v *Verify) string { return yesNo(v.Equal) }), nil)
	row("messages with other bytes", v(func(v *Verify) string { return fmt.Sprint(v.ByteDiffering) }), nil)
	row("differing (headers ignored)", v(func(v *Verify) string {
		s := fmt.Sprint(v.Differing)
		if len(v.IgnoredHeaders) > 0 {
			s += " (w/o " + strings.Join(v.IgnoredHeaders, ",") + ")"
		}
		return s
	}), nil)
	row("  missing / duplicated / extra", v(func(v *Verify) string { return fmt.Sprintf("%d / %d / %d", v.Missing, v.Duplicates, v.Extra) }), nil)
	row("  other date / other flags", v(func(v *Verify) string { return fmt.Sprintf("%d / %d", v.DateMismatch, v.FlagMismatch) }), nil)
	tw.Flush()
	for _, t := range tools {
		if t.Verify != nil && len(t.Verify.Lines) > 0 {
			lines := t.Verify.Lines[:min(len(t.Verify.Lines), 8)]
			fmt.Fprintf(w, "\n%s: differences (first %d lines; -json has more):\n  %s\n", t.Tool, len(lines), strings.Join(lines, "\n  "))
		}
		if t.Error != "" {
			fmt.Fprintf(w, "\n%s: %s\n", t.Tool, t.Error)
		}
	}
	return nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func codes(c []int) string {
	all0 := true
	for _, x := range c {
		all0 = all0 && x == 0
	}
	if all0 {
		return "0"
	}
	s := make([]string, len(c))
	for i, x := range c {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, ",")
}
