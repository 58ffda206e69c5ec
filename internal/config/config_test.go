package config

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// env returns a getenv over m.
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// testSection has one setting of each kind, and a rule relating two.
type testSection struct {
	Addr   string
	Name   string
	Mode   string
	Count  int
	Ports  int
	Wait   time.Duration
	On     bool
	URL    string
	Listen string
	Lo, Hi int
}

func defaults() testSection {
	return testSection{
		Addr: "127.0.0.1:7233", Name: "default", Mode: "a", Count: 4, Ports: 8233, Wait: 30 * time.Second,
		URL: "amqp://guest:guest@127.0.0.1:5672/", Listen: "127.0.0.1:9464", Lo: 60, Hi: 3600,
	}
}

func (s *testSection) Settings() []Setting {
	return []Setting{
		String("T_ADDR", "an address", &s.Addr, HostPort),
		String("T_NAME", "a name", &s.Name, NonEmpty),
		String("T_MODE", "a mode", &s.Mode, OneOf("a", "b")),
		Int("T_COUNT", "a count", &s.Count, 1, 0),
		Int("T_PORT", "a port", &s.Ports, 1, 65535),
		Duration("T_WAIT", "a wait", &s.Wait),
		Bool("T_ON", "a switch", &s.On),
		SecretURL("T_URL", "a URL with a password", &s.URL, func(v string) string {
			if !strings.HasPrefix(v, "amqp://") {
				return "must be an amqp:// URL"
			}
			return ""
		}, RedactURL),
		ListenAddr("T_LISTEN", "a listener", &s.Listen),
		Int("T_LO", "a minimum", &s.Lo, 1, 0),
		Int("T_HI", "a maximum", &s.Hi, 1, 0),
	}
}

func (s testSection) Check() []*FieldError {
	if s.Hi < s.Lo {
		return []*FieldError{{Var: "T_HI", Rule: fmt.Sprintf("must not be below T_LO (%d), got %d", s.Lo, s.Hi)}}
	}
	return nil
}

// messages returns the messages of the FieldErrors joined in err, in order.
func messages(t *testing.T, err error) []string {
	t.Helper()
	fes := FieldErrors(err)
	if err != nil && len(fes) == 0 {
		t.Fatalf("got error %T %q, want joined FieldErrors", err, err)
	}
	var out []string
	for _, fe := range fes {
		out = append(out, fe.Error())
	}
	return out
}

// TestLoad loads one valid and one invalid value of each kind: the valid ones
// are set, each invalid one is reported once, all at once and in order, with
// the rules relating settings, and keeps its default.
func TestLoad(t *testing.T) {
	s := defaults()
	if err := Load(env(nil), &s); err != nil || s != defaults() {
		t.Fatalf("Load(empty env): got %+v, error %v, want the defaults", s, err)
	}
	err := Load(env(map[string]string{
		"T_ADDR": "[::1]:7233", "T_COUNT": " 16 ", "T_WAIT": "1m30s", "T_ON": "1", "T_LISTEN": "off",
		"T_URL": "amqp://u:p@mq:5671/v", "T_NAME": "  ", "T_MODE": "c", "T_PORT": "http", "T_LO": "x", "T_HI": "30",
	}), &s)
	want := defaults()
	want.Addr, want.Count, want.Wait, want.On, want.Listen, want.URL, want.Hi = "[::1]:7233", 16, 90*time.Second, true, "", "amqp://u:p@mq:5671/v", 30
	if s != want {
		t.Errorf("Load:\ngot  %+v\nwant %+v", s, want)
	}
	wantErrs := []string{
		`T_NAME: must not be empty, got "  "`,
		`T_MODE: must be one of a, b, got "c"`,
		`T_PORT: must be an integer from 1 to 65535, got "http"`,
		`T_LO: must be a positive integer, got "x"`,
		"T_HI: must not be below T_LO (60), got 30",
	}
	if got := messages(t, err); fmt.Sprint(got) != fmt.Sprint(wantErrs) {
		t.Errorf("Load errors:\ngot  %q\nwant %q", got, wantErrs)
	}

	s = defaults()
	err = Load(env(map[string]string{
		"T_ADDR": "localhost", "T_COUNT": "0", "T_WAIT": "30", "T_ON": "maybe", "T_LISTEN": "nowhere",
		"T_URL": "http://guest:s3cret@mq/",
	}), &s)
	wantErrs = []string{
		`T_ADDR: must be host:port with a port from 1 to 65535, got "localhost"`,
		`T_COUNT: must be a positive integer, got "0"`,
		`T_WAIT: must be a positive Go duration such as 30s or 1m30s, got "30"`,
		`T_ON: must be true or false, got "maybe"`,
		`T_LISTEN: must be host:port with a port from 1 to 65535 or "off", got "nowhere"`,
		// A secret is checked after loading, without its value.
		`T_URL: must be an amqp:// URL (value not shown: it may hold a password)`,
	}
	if got := messages(t, err); fmt.Sprint(got) != fmt.Sprint(wantErrs) {
		t.Errorf("Load errors:\ngot  %q\nwant %q", got, wantErrs)
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error %q contains the password", err)
	}
}

// TestValidate checks values set in the struct: every broken rule, in the
// order of the settings, then the rules relating them.
func TestValidate(t *testing.T) {
	s := defaults()
	s.Listen = "" // disabled: valid
	if err := Validate(&s); err != nil {
		t.Errorf("Validate(defaults): got %v, want nil", err)
	}
	s.Name, s.Count, s.Ports, s.Wait = "", 0, 70000, -time.Second
	s.URL, s.Listen, s.Lo, s.Hi = "postgres://u:hunter2@db/x", "9464", 120, 60
	want := []string{
		`T_NAME: must not be empty, got ""`,
		"T_COUNT: must be a positive integer, got 0",
		"T_PORT: must be an integer from 1 to 65535, got 70000",
		"T_WAIT: must be a positive Go duration such as 30s or 1m30s, got -1s",
		"T_URL: must be an amqp:// URL (value not shown: it may hold a password)",
		`T_LISTEN: must be host:port with a port from 1 to 65535 or empty, got "9464"`,
		"T_HI: must not be below T_LO (120), got 60",
	}
	if got := messages(t, Validate(&s)); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Validate():\ngot  %q\nwant %q", got, want)
	}
}

func TestRedacted(t *testing.T) {
	s := defaults()
	if got, want := Redacted(&s)["T_URL"], "amqp://guest:xxxxx@127.0.0.1:5672/"; got != want {
		t.Errorf("default URL: got %q, want %q", got, want)
	}
	_ = Load(env(map[string]string{"T_URL": "amqp://svc:s3cret@mq/prod?password=s3cret&x=1", "T_LISTEN": "off", "T_WAIT": "90s", "T_ON": "yes"}), &s)
	got := Redacted(&s)
	want := map[string]string{
		"T_ADDR": "127.0.0.1:7233", "T_NAME": "default", "T_MODE": "a", "T_COUNT": "4", "T_PORT": "8233",
		"T_WAIT": "1m30s", "T_ON": "false", // invalid: the default stays
		"T_URL": "amqp://svc:xxxxx@mq/prod?password=xxxxx&x=1", "T_LISTEN": "off", "T_LO": "60", "T_HI": "3600",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Redacted:\ngot  %v\nwant %v", got, want)
	}
	s.URL = "amqp://svc:s3cret@mq:bad/"
	if got, want := Redacted(&s)["T_URL"], "(unparsable, not shown)"; got != want {
		t.Errorf("unparsable URL: got %q, want %q", got, want)
	}
}

func TestFlagsOverrideEnv(t *testing.T) {
	s := defaults()
	if err := Load(env(map[string]string{"T_ADDR": "from-env:7233", "T_COUNT": "8", "T_URL": "amqp://svc:s3cret@mq/"}), &s); err != nil {
		t.Fatalf("Load: got error %v, want nil", err)
	}
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	RegisterFlags(fs, &s)

	if got, want := fs.Lookup("t-count").DefValue, "8"; got != want {
		t.Errorf("--t-count default: got %q, want %q (the env value)", got, want)
	}
	if help := fs.FlagUsages(); strings.Contains(help, "s3cret") || !strings.Contains(help, "(env T_URL, or T_URL_FILE") {
		t.Errorf("flag help shows the password or not the variable:\n%s", help)
	}
	for _, st := range s.Settings() {
		if fs.Lookup(FlagName(st.Env())) == nil {
			t.Errorf("no flag --%s for %s", FlagName(st.Env()), st.Env())
		}
	}
	err := fs.Parse([]string{"--t-addr=from-flag:7233", "--t-wait", "5s", "--t-on", "--t-listen=", "--t-lo", "10"})
	if err != nil {
		t.Fatalf("Parse: got error %v, want nil", err)
	}
	if err := Validate(&s); err != nil {
		t.Errorf("Validate: got error %v, want nil", err)
	}
	want := defaults()
	want.Addr, want.Count, want.Wait, want.On, want.Listen, want.Lo, want.URL = "from-flag:7233", 8, 5*time.Second, true, "", 10, "amqp://svc:s3cret@mq/"
	if s != want {
		t.Errorf("after flags:\ngot  %+v\nwant %+v", s, want)
	}
}

func TestFlagErrors(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr string // substring of the parse error; "" when parsing succeeds
		notIn   string // must not appear in any error
		valid   bool   // Validate after parsing succeeds
	}{
		{[]string{"--t-count=0"}, "must be a positive integer", "", true},
		{[]string{"--t-mode=xml"}, "must be one of a, b", "", true},
		{[]string{"--t-listen=off"}, "", "", true},
		{[]string{"--t-url=mysql://root:hunter2@db/"}, "", "hunter2", false},
		{[]string{"--t-hi=30"}, "", "", false},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			s := defaults()
			fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
			fs.SetOutput(&strings.Builder{})
			RegisterFlags(fs, &s)
			err := fs.Parse(tt.args)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Parse: got error %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Parse: got error %v, want one containing %q", err, tt.wantErr)
			}
			verr := Validate(&s)
			if got := verr == nil; got != tt.valid {
				t.Errorf("Validate: got %v, want valid=%v", verr, tt.valid)
			}
			if tt.notIn != "" && strings.Contains(fmt.Sprint(err, verr), tt.notIn) {
				t.Errorf("errors %v / %v contain %q", err, verr, tt.notIn)
			}
		})
	}
}

func TestFlagName(t *testing.T) {
	tests := []struct{ env, want string }{
		{"TEMPORAL_ADDRESS", "temporal-address"},
		{"HEALTH_CHECK_INTERVAL_MIN", "health-check-interval-min"},
		{"AMQP_URL", "amqp-url"},
	}
	for _, tt := range tests {
		if got := FlagName(tt.env); got != tt.want {
			t.Errorf("FlagName(%q): got %q, want %q", tt.env, got, tt.want)
		}
	}
}

// secretSection holds one Secret.
type secretSection struct{ Key string }

func (s *secretSection) Settings() []Setting {
	return []Setting{Secret("T_KEY", "a signing key", &s.Key)}
}

// TestSecret loads a Secret from the environment and from a flag: the value
// is set, and neither Redacted, the flag help nor an error shows it.
func TestSecret(t *testing.T) {
	const key = "k3y-9f2c1e"
	tests := []struct {
		name         string
		env          map[string]string
		args         []string
		want         string
		wantRedacted string
	}{
		{"unset", nil, nil, "", ""},
		{"from env", map[string]string{"T_KEY": key}, nil, key, RedactedPassword},
		{"from flag", nil, []string{"--t-key=" + key}, key, RedactedPassword},
		{"flag clears env", map[string]string{"T_KEY": key}, []string{"--t-key="}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s secretSection
			if err := Load(env(tt.env), &s); err != nil {
				t.Fatalf("Load: got error %v, want nil", err)
			}
			fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
			var out strings.Builder
			fs.SetOutput(&out)
			RegisterFlags(fs, &s)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatalf("Parse: got error %v, want nil", err)
			}
			if err := Validate(&s); err != nil {
				t.Errorf("Validate: got error %v, want nil", err)
			}
			if s.Key != tt.want {
				t.Errorf("T_KEY: got %q, want %q", s.Key, tt.want)
			}
			if got := Redacted(&s)["T_KEY"]; got != tt.wantRedacted {
				t.Errorf("Redacted: got %q, want %q", got, tt.wantRedacted)
			}
			fs.PrintDefaults()
			if help := fs.FlagUsages() + out.String(); strings.Contains(help, key) || !strings.Contains(help, "(env T_KEY, or T_KEY_FILE") {
				t.Errorf("flag help shows the key or not the variable:\n%s", help)
			}
		})
	}
}

// A secret setting can come from a file (NAME_FILE), so that it is in
// neither the environment nor the command line; its errors never quote the
// file's content, and a plain setting has no _FILE variant.
func TestSecretFromFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := dir + "/" + name
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	key := write("key", "k3y-from-file\n")
	empty := write("empty", "\n")
	var s secretSection
	if err := Load(env(map[string]string{"T_KEY_FILE": key}), &s); err != nil || s.Key != "k3y-from-file" {
		t.Errorf("T_KEY_FILE: got %q, %v; want the file's line", s.Key, err)
	}
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"T_KEY_FILE": key, "T_KEY": "other"}, "T_KEY_FILE: is set with T_KEY: set one of them"},
		{map[string]string{"T_KEY_FILE": dir + "/missing"}, "T_KEY_FILE: cannot read " + dir + "/missing: no such file or directory"},
		{map[string]string{"T_KEY_FILE": empty}, "T_KEY_FILE: " + empty + " is empty"},
	} {
		var s secretSection
		err := Load(env(tc.env), &s)
		if err == nil || err.Error() != tc.want || strings.Contains(err.Error(), "k3y") {
			t.Errorf("%v: got %v, want %q", tc.env, err, tc.want)
		}
	}
}
