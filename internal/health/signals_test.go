package health

import "testing"

func TestStackID(t *testing.T) {
	const id = "2f4e9a63-0d5a-4c5e-9c1b-7f3c9e7b1a20"
	cases := []struct{ identity, want string }{
		{"arn:openstack:heat::6f70656e737461636b20342065766572:stacks/web-stack/" + id, id},
		{"http://heat.example:8004/v1/6f70/stacks/web-stack/" + id, id},
		{"arn:openstack:heat::t:stacks/web-stack/" + id + "/resources/server", id},
		{id, id},
		{"", ""},
		{"arn:openstack:heat::t:stacks/web-stack", "arn:openstack:heat::t:stacks/web-stack"},
		{"arn:openstack:heat::t:stacks/web-stack/", "arn:openstack:heat::t:stacks/web-stack/"},
	}
	for _, tc := range cases {
		if got := StackID(tc.identity); got != tc.want {
			t.Errorf("StackID(%q): got %q, want %q", tc.identity, got, tc.want)
		}
	}
}

func TestSamePhysicalResource(t *testing.T) {
	const arn = "arn:openstack:heat::t:stacks/web-stack/2f4e9a63"
	cases := []struct {
		a, b string
		want bool
	}{
		{"2f4e9a63", arn, true},
		{arn, "2f4e9a63", true},
		{arn, arn, true},
		{"srv-1", "srv-1", true},
		{"srv-1", "srv-2", false},
		{"other-stack-id", arn, false},
	}
	for _, tc := range cases {
		if got := SamePhysicalResource(tc.a, tc.b); got != tc.want {
			t.Errorf("SamePhysicalResource(%q, %q): got %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}
