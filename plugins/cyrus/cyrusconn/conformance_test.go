package cyrusconn_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ternmail/tern/internal/testserver"
	"github.com/ternmail/tern/plugins/cyrus/cyrusconn"
	"github.com/ternmail/tern/sdk/connector"
	"github.com/ternmail/tern/sdk/connectortest"
)

// suiteEnv names the Cyrus instance TestConformanceSuite runs against, in
// the child process that TestConformance starts.
const suiteEnv = "TERN_CYRUS_CONFORMANCE_CHILD"

// TestConformance runs the SDK's conformance suite, unchanged, against
// both Cyrus instances with the proxy administrator (SASL PLAIN authzid),
// in process and over the plugin protocol, a wrong administrator password
// included (BadCredential).
//
// The suite checks byte for byte, and its corpus holds a message with
// 8-bit bytes in its top-level header ("Jürgen Müller"), which Cyrus
// rewrites on APPEND (munge8bit: each such byte becomes 'X';
// testserver.CyrusStores). The suite has no setting for a server that
// rewrites messages (it has one for bare LF, KeepsBareLF), so it runs in
// a child process (the test binary itself, running TestConformanceSuite)
// and this test reads the outcome: every check must pass except those of
// the messages CyrusStores says Cyrus rewrites, and those must fail
// exactly as predicted, with the digest and fingerprint of the bytes
// CyrusStores computes. Anything else fails the test.
func TestConformance(t *testing.T) {
	testserver.Ensure(t)
	rewritten := map[int][]string{} // corpus index → what its failures must quote
	for i, m := range connectortest.Corpus() {
		stored, refusal := testserver.CyrusStores(m.Data)
		if refusal != "" {
			t.Fatalf("Cyrus refuses conformance message %d (%s): the suite cannot run against it", i, refusal)
		}
		if !bytes.Equal(stored, m.Data) {
			fp := func(b []byte) string { return connector.Fingerprint(int64(len(b)), connector.HeaderSection(b)) }
			rewritten[i] = []string{sum12(stored), sum12(m.Data), fp(stored), fp(m.Data)}
		}
	}
	if len(rewritten) == 0 {
		t.Fatal("CyrusStores predicts no rewrite: run the suite directly")
	}
	for _, inst := range testserver.Cyruses {
		t.Run(inst.Name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestConformanceSuite$", "-test.v", "-test.count=1", "-test.timeout=9m")
			cmd.Env = append(os.Environ(), suiteEnv+"="+inst.Name)
			out, runErr := cmd.CombinedOutput()
			checkSuiteOutput(t, out, runErr, rewritten)
		})
	}
}

var (
	testLine  = regexp.MustCompile(`^=== (?:RUN|CONT|NAME|PAUSE)\s+(\S+)`)
	errorLine = regexp.MustCompile(`^suite\.go:\d+: (.*)$`)
	endLine   = regexp.MustCompile(`^--- (PASS|FAIL|SKIP): (\S+) \(`)
)

// checkSuiteOutput reads the child's verbose output: the only failures
// allowed are those of the rewritten messages, in the checks that compare
// bytes (direct and over the wire), and each of those must fail.
func checkSuiteOutput(t *testing.T, out []byte, runErr error, rewritten map[int][]string) {
	t.Helper()
	expected := []string{"Source/ListAndFetchExact", "Source/CopyTo", "Target/AppendExact"}
	var cur string
	errs := map[string][]string{}
	results := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if m := testLine.FindStringSubmatch(line); m != nil {
			cur = m[1]
		} else if m := errorLine.FindStringSubmatch(line); m != nil {
			errs[cur] = append(errs[cur], m[1])
		} else if m := endLine.FindStringSubmatch(line); m != nil {
			results[m[2]] = m[1]
		} else if strings.HasPrefix(line, "panic:") {
			t.Errorf("the suite panicked: %s", line)
		}
	}
	if results["TestConformanceSuite"] == "" {
		t.Fatalf("the suite did not run (%v):\n%s", runErr, out)
	}
	var passed, failed []string
	for name, res := range results {
		short := strings.TrimPrefix(name, "TestConformanceSuite/")
		if res == "PASS" {
			passed = append(passed, short)
		}
		if res == "SKIP" {
			t.Errorf("%s was skipped", short)
		}
		if res != "FAIL" {
			continue
		}
		leaf := !slices.ContainsFunc(keys(results), func(n string) bool { return strings.HasPrefix(n, name+"/") })
		if !leaf {
			continue
		}
		failed = append(failed, short)
		if !slices.ContainsFunc(expected, func(e string) bool { return strings.HasSuffix(name, "/"+e) }) {
			t.Errorf("%s failed: %q", short, errs[name])
		}
	}
	slices.Sort(passed)
	slices.Sort(failed)
	t.Logf("suite: %d passed (%s); failed: %s", len(passed), strings.Join(passed, ", "), strings.Join(failed, ", "))
	for name, lines := range errs {
		for _, l := range lines {
			if !predicted(l, rewritten) {
				t.Errorf("%s: %s", strings.TrimPrefix(name, "TestConformanceSuite/"), l)
			} else {
				t.Logf("as predicted (Cyrus rewrites 8-bit header bytes): %s: %s", strings.TrimPrefix(name, "TestConformanceSuite/"), l)
			}
		}
	}
	for _, via := range []string{"direct", "wire"} {
		for _, e := range expected {
			name := "TestConformanceSuite/" + via + "/" + e
			if results[name] != "FAIL" || len(errs[name]) == 0 {
				t.Errorf("%s/%s: %q, want the predicted byte differences", via, e, results[name])
			}
		}
		for _, p := range []string{"Source/FoldersHaveInbox", "Source/NotFound", "Source/DeltaCheckpoint", "Target/EnsureFolder",
			"Target/AppendShortBody", "Target/AppendMissingFolder", "Target/Lookup", "Target/SetFlags", "BadCredential"} {
			if r := results["TestConformanceSuite/"+via+"/"+p]; r != "PASS" {
				t.Errorf("%s/%s: %q, want PASS", via, p, r)
			}
		}
	}
	if t.Failed() {
		t.Logf("suite output:\n%s", out)
	}
}

// predicted reports whether a failure of the suite is one CyrusStores
// predicts: it is about a rewritten message and quotes the digests (or
// fingerprints) of the bytes Cyrus serves and of the bytes appended.
func predicted(line string, rewritten map[int][]string) bool {
	for i, q := range rewritten {
		if !strings.HasPrefix(line, fmt.Sprintf("message %d: ", i)) {
			continue
		}
		digests := strings.Contains(line, "sha256 "+q[0]) && strings.Contains(line, "sha256 "+q[1])
		fingerprints := strings.Contains(line, fmt.Sprintf("Fingerprint %q, want %q", q[2], q[3]))
		return digests || fingerprints
	}
	return false
}

func sum12(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])[:12]
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestConformanceSuite is the suite itself, run by TestConformance in a
// child process with suiteEnv set; without it, it has nothing to do.
func TestConformanceSuite(t *testing.T) {
	name := os.Getenv(suiteEnv)
	if name == "" {
		t.Skip("runs in the child process of TestConformance")
	}
	i := slices.IndexFunc(testserver.Cyruses, func(i testserver.Instance) bool { return i.Name == name })
	if i < 0 {
		t.Fatalf("%s=%q: no such Cyrus instance", suiteEnv, name)
	}
	inst := testserver.Cyruses[i]
	testserver.Ensure(t)
	connectortest.Run(t, connectortest.Harness{
		Connector: cyrusconn.New(testLogger()),
		Mailbox: func(t *testing.T) *connector.OpenRequest {
			return adminRequest(inst, newCyrusUser(t, inst, "conf-"+inst.Name))
		},
		BadCredential: func(t *testing.T) *connector.OpenRequest {
			req := adminRequest(inst, newCyrusUser(t, inst, "conf-bad-"+inst.Name))
			req.Credential.Secret = "wrong-" + req.Credential.Secret
			return req
		},
	})
}
