package health

// ModeResult is the result of one detection mode on one node.
type ModeResult struct {
	Type    DetectionType `json:"type"`
	Verdict Verdict       `json:"verdict"`
	// Suspect marks a poll-URL result whose first attempt failed while more
	// attempts are due: the verdict is provisional until they are made.
	Suspect bool   `json:"suspect,omitempty"`
	Detail  string `json:"detail,omitempty"`
}
