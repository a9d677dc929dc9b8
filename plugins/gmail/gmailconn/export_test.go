package gmailconn

// PlanLabels exposes a flag plan to the tests: system labels, keyword
// label names, dropped flags.
func PlanLabels(p flagPlan) (system, keywords, dropped []string) {
	return p.system, p.keywords, p.dropped
}
