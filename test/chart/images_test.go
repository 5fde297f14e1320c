package chart

import (
	"regexp"
	"strings"
	"testing"
)

// TestImageTagsMatchMake: `make images` tags its images with the chart's
// appVersion (Makefile IMAGE_TAGS), which config/default uses too.
func TestImageTagsMatchMake(t *testing.T) {
	chartYAML := string(mustRead(t, root+"/"+chartDir+"/Chart.yaml"))
	m := regexp.MustCompile(`(?m)^appVersion: *(\S+)$`).FindStringSubmatch(chartYAML)
	if m == nil {
		t.Fatal("Chart.yaml has no appVersion")
	}
	out, err := run("make", "-n", "--no-print-directory", "images")
	if err != nil {
		t.Fatal(err)
	}
	tags := regexp.MustCompile(`--tags '([^']*)'`).FindStringSubmatch(string(out))
	if tags == nil || !strings.Contains(","+tags[1]+",", ","+m[1]+",") {
		t.Errorf("make images tags %v; want the chart's appVersion %s among them\n%s", tags, m[1], out)
	}
	if repo := regexp.MustCompile(`--repository (\S+)`).FindStringSubmatch(string(out)); repo != nil && repo[1] != "ghcr.io/ironlb" {
		t.Errorf("make images pushes to %s, the chart pulls ghcr.io/ironlb/...", repo[1])
	}
}
