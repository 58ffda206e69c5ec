package triage

import (
	"reflect"
	"testing"
)

// TestMechanics: each mechanic changes at one generation and keeps its value
// in every later one, so that a run of a newer generation does everything a
// run of the one before did, and the table says where each begins.
func TestMechanics(t *testing.T) {
	// from is the first generation that does the mechanic; "until" marks
	// one that older runs did and newer ones stopped doing.
	tests := []struct {
		field string
		from  Generation
		until bool
	}{
		{"CheckStart", GenCore, false},
		{"Pauses", GenCore, false},
		{"Timeline", GenCore, false},
		{"RetryWithoutRounds", GenCore, false},
		{"Watch", GenCore, false},
		{"Bursts", GenBursts, false},
		{"MemberCheck", GenHardened, false},
		{"BoundInputs", GenHardened, false},
		{"ApprovalsPending", GenHardened, true},
		{"FleetStates", GenFleetStates, false},
		{"LocalSweeps", GenLocalSweep, false},
		{"RoundPhases", GenRoundPhase, false},
	}
	if n := reflect.TypeFor[Mechanics]().NumField(); n != len(tests) {
		t.Fatalf("Mechanics has %d fields, the table %d: add the new one", n, len(tests))
	}
	for _, tc := range tests {
		for g := GenLegacy; g <= Current; g++ {
			got := reflect.ValueOf(g.Mechanics()).FieldByName(tc.field).Bool()
			want := (g >= tc.from) != tc.until
			if got != want {
				t.Errorf("%s of generation %s: got %v, want %v", tc.field, g, got, want)
			}
		}
	}
}

func TestRetryHeld(t *testing.T) {
	tests := []struct {
		gen              Generation
		polling, enabled bool
		want             bool
	}{
		{Current, false, true, true},
		{Current, true, true, false},   // a round asks the core again
		{Current, false, false, false}, // disabled: every node would be held for that alone
		{GenLegacy, false, true, false},
		{GenCore, false, true, true},
	}
	for _, tc := range tests {
		if got := tc.gen.Mechanics().RetryHeld(tc.polling, tc.enabled); got != tc.want {
			t.Errorf("%s, polling %v, enabled %v: got %v, want %v", tc.gen, tc.polling, tc.enabled, got, tc.want)
		}
	}
}
