package migrate

import (
	"os"
	"strings"
	"testing"
)

// TestDifferencesAreDocumented: what the command tells a user they will
// notice is what docs/migration.md lists.
func TestDifferencesAreDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/migration.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range Differences {
		if !strings.Contains(string(doc), "- "+d+"\n") {
			t.Errorf("docs/migration.md does not list: %s", d)
		}
	}
}
