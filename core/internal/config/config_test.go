package config

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The packaged configuration loads, and so does its commented Vault block
// once uncommented: the example an admin copies must be valid.
func TestPackagedConfig(t *testing.T) {
	path := filepath.Join("..", "..", "..", "packaging", "tern.toml")
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.StateDir != "/var/lib/tern/state" || c.Secrets.Backend != "" {
		t.Fatalf("packaged config: state_dir %q, secrets backend %q", c.StateDir, c.Secrets.Backend)
	}

	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Uncomment the lines of the [secrets] block (not the prose, nor the
	// "or: token_file" alternative).
	var out []string
	in := false
	for _, l := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(l, "# [secrets]") {
			in = true
		}
		if in && l == "" {
			in = false
		}
		if in && regexp.MustCompile(`^# [a-z_\[]`).MatchString(l) {
			l = strings.TrimPrefix(l, "# ")
		}
		out = append(out, l)
	}
	vaultPath := filepath.Join(t.TempDir(), "tern.toml")
	if err := os.WriteFile(vaultPath, []byte(strings.Join(out, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err = Load(vaultPath)
	if err != nil {
		t.Fatal(err)
	}
	v := c.Secrets.Vault
	if c.Secrets.Backend != "vault" || v.Address == "" || v.RoleIDFile == "" || v.SecretIDFile == "" || v.TokenFile != "" {
		t.Fatalf("vault example: %+v", c.Secrets)
	}
}

func TestValidateRefuses(t *testing.T) {
	for name, body := range map[string]string{
		"unknown key":       "listn = \"127.0.0.1:1\"\n",
		"bad listen":        "listen = \"nowhere\"\n",
		"unknown backend":   "[secrets]\nbackend = \"s3\"\n",
		"bad public url":    "public_url = \"tern.example\"\n",
		"vault, no address": "[secrets]\nbackend = \"vault\"\n[secrets.vault]\ntoken_file = \"/t\"\n",
		"vault, no auth":    "[secrets]\nbackend = \"vault\"\n[secrets.vault]\naddress = \"https://v:8200\"\nrole_id_file = \"/r\"\n",
	} {
		p := filepath.Join(t.TempDir(), "c.toml")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(p); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
}
