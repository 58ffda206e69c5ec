package openstack

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Credentials that cannot be used are refused at start, with the variable
// named and no secret quoted.
func TestConnectRefusals(t *testing.T) {
	dir := t.TempDir()
	clouds := filepath.Join(dir, "clouds.yaml")
	if err := os.WriteFile(clouds, []byte("clouds:\n  mine:\n    auth:\n      auth_url: http://127.0.0.1:1/v3\n      username: u\n      password: hunter2-secret\n      project_name: p\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"nothing set", nil, "OS_CLOUD (a cloud of clouds.yaml) or OS_AUTH_URL"},
		{"an unknown cloud", map[string]string{"OS_CLOUD": "theirs", "OS_CLIENT_CONFIG_FILE": clouds}, `OS_CLOUD: cloud "theirs"`},
		{"a bad interface", map[string]string{"OS_AUTH_URL": "http://127.0.0.1:1/v3", "OS_USERNAME": "u", "OS_PASSWORD": "hunter2-secret",
			"OS_PROJECT_NAME": "p", "OS_INTERFACE": "sideways"}, "OS_INTERFACE: must be public, internal or admin"},
		{"a CA file that is not one", map[string]string{"OS_AUTH_URL": "http://127.0.0.1:1/v3", "OS_USERNAME": "u", "OS_PASSWORD": "hunter2-secret",
			"OS_PROJECT_NAME": "p", "OS_CACERT": clouds}, "OS_CACERT: " + clouds + " holds no PEM certificate"},
		{"keystone unreachable", map[string]string{"OS_CLOUD": "mine", "OS_CLIENT_CONFIG_FILE": clouds}, "cloud mine: authenticate"},
		{"no password", map[string]string{"OS_AUTH_URL": "http://127.0.0.1:1/v3", "OS_USERNAME": "u", "OS_PROJECT_NAME": "p",
			"OS_DOMAIN_NAME": "Default"}, "OS_PASSWORD"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"OS_AUTH_URL", "OS_USERNAME", "OS_PASSWORD", "OS_PROJECT_NAME", "OS_DOMAIN_NAME"} {
				t.Setenv(k, tc.env[k]) // AuthOptionsFromEnv reads the process environment
			}
			_, err := Connect(context.Background(), func(k string) string { return tc.env[k] })
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error saying %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2-secret") {
				t.Errorf("the error quotes the password: %v", err)
			}
		})
	}
}
