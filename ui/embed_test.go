package ui

import (
	"io/fs"
	"strings"
	"testing"
)

// The budget: the page's files total under 100 KiB uncompressed.
const budget = 100 << 10

func TestFiles_UnderBudgetAndSelfContained(t *testing.T) {
	total := 0
	err := fs.WalkDir(Files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(Files, p)
		if err != nil {
			return err
		}
		total += len(data)
		// No CDN: nothing the page loads may come from another origin.
		for _, bad := range []string{"http://", "https://", "//cdn", "innerHTML"} {
			if strings.Contains(string(data), bad) && !allowedMention(p, bad) {
				t.Errorf("%s mentions %q", p, bad)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("dashboard files: %d bytes", total)
	if total > budget {
		t.Fatalf("dashboard files total %d bytes, over the %d-byte budget", total, budget)
	}
	if _, err := fs.Stat(Files, "index.html"); err != nil {
		t.Fatalf("index.html: %v", err)
	}
}

// allowedMention lets the published-port links build an http:// URL to
// the task's own port and the SVG namespace name itself, both data, not
// loads.
func allowedMention(path, what string) bool {
	return what == "http://" && (path == "js/tasks.js" || path == "js/spark.js")
}
