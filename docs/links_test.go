// Package docs holds the project's documentation; its tests check that
// every relative link in README.md and docs/ leads somewhere in the
// repository, so that a clone has no dead links.
package docs

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
)

// repoRoot is the repository root, seen from this package's directory.
const repoRoot = ".."

// markdownFiles returns README.md and every Markdown file under docs/.
func markdownFiles(root string) ([]string, error) {
	files := []string{filepath.Join(root, "README.md")}
	err := filepath.WalkDir(filepath.Join(root, "docs"), func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".md") {
			files = append(files, path)
		}
		return err
	})
	return files, err
}

// link is one link target in a Markdown file, with its line (1-based).
type link struct {
	line   int
	target string
}

var (
	fenceLine  = regexp.MustCompile("^ {0,3}(```+|~~~+)")
	inlineLink = regexp.MustCompile(`!?\[[^\]]*\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+"[^"]*")?\s*\)`)
	refDef     = regexp.MustCompile(`^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)`)
	htmlLink   = regexp.MustCompile(`(?:href|src)="([^"]*)"`)
	atxHeading = regexp.MustCompile(`^ {0,3}#{1,6}(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$`)
	htmlAnchor = regexp.MustCompile(`<a\s+(?:name|id)="([^"]+)"`)
	urlScheme  = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*:`)
	lineAnchor = regexp.MustCompile(`^L[0-9]+(-L[0-9]+)?$`)
)

// proseLines yields the lines of src outside fenced code blocks, with
// inline code spans blanked out, so that code is never read as a link or
// a heading.
func proseLines(src string) []string {
	lines := strings.Split(src, "\n")
	out := make([]string, len(lines))
	fence := ""
	for i, l := range lines {
		if m := fenceLine.FindStringSubmatch(l); m != nil {
			switch {
			case fence == "":
				fence = m[1]
			case strings.HasPrefix(m[1], fence[:1]) && len(m[1]) >= len(fence) && strings.TrimSpace(l) == m[1]:
				fence = ""
			}
			continue
		}
		if fence == "" {
			out[i] = stripCodeSpans(l)
		}
	}
	return out
}

// stripCodeSpans removes inline code spans (a run of backticks up to the
// next run of the same length) from one line.
func stripCodeSpans(l string) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(l, '`')
		if i < 0 {
			b.WriteString(l)
			return b.String()
		}
		b.WriteString(l[:i])
		n := i
		for n < len(l) && l[n] == '`' {
			n++
		}
		run := l[i:n]
		rest := l[n:]
		end := -1
		for j := 0; j < len(rest); {
			k := strings.Index(rest[j:], run)
			if k < 0 {
				break
			}
			k += j
			if k+len(run) == len(rest) || rest[k+len(run)] != '`' {
				end = k
				break
			}
			for j = k; j < len(rest) && rest[j] == '`'; j++ {
			}
		}
		if end < 0 { // no closing run: the backticks are literal
			b.WriteString(run)
			l = rest
			continue
		}
		b.WriteString(" code ")
		l = rest[end+len(run):]
	}
}

// extractLinks returns the link targets of a Markdown document, in the
// order they appear: inline links and images, reference definitions, and
// HTML href/src attributes.
func extractLinks(src string) []link {
	var out []link
	for i, l := range proseLines(src) {
		var found [][]int // [start, end] of each target in l
		for _, re := range []*regexp.Regexp{inlineLink, refDef, htmlLink} {
			for _, m := range re.FindAllStringSubmatchIndex(l, -1) {
				found = append(found, m[2:4])
			}
		}
		slices.SortFunc(found, func(a, b []int) int { return a[0] - b[0] })
		for _, f := range found {
			out = append(out, link{line: i + 1, target: strings.Trim(l[f[0]:f[1]], "<>")})
		}
	}
	return out
}

// anchors returns the anchors GitHub gives a Markdown document: the slug of
// every ATX heading (a repeated slug gets -1, -2, ...) and every
// <a name="..."> or <a id="...">.
func anchors(src string) map[string]bool {
	out := map[string]bool{}
	seen := map[string]int{}
	for _, l := range proseLinesKeepCode(src) {
		for _, m := range htmlAnchor.FindAllStringSubmatch(l, -1) {
			out[m[1]] = true
		}
		m := atxHeading.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		s := slug(headingText(m[1]))
		if n := seen[s]; n > 0 {
			out[fmt.Sprintf("%s-%d", s, n)] = true
		} else {
			out[s] = true
		}
		seen[s]++
	}
	return out
}

// proseLinesKeepCode is proseLines without blanking code spans: a heading's
// code span is part of its text.
func proseLinesKeepCode(src string) []string {
	lines := strings.Split(src, "\n")
	prose := proseLines(src)
	for i := range prose {
		if prose[i] != "" {
			prose[i] = lines[i]
		}
	}
	return prose
}

var (
	mdLinkText = regexp.MustCompile(`!?\[([^\]]*)\]\([^)]*\)`)
	htmlTag    = regexp.MustCompile(`<[^>]+>`)
)

// headingText is a heading's text as rendered: links by their text, code
// spans by their content, without emphasis markers or HTML tags.
func headingText(h string) string {
	h = mdLinkText.ReplaceAllString(h, "$1")
	h = htmlTag.ReplaceAllString(h, "")
	return strings.NewReplacer("`", "", "**", "", "*", "").Replace(h)
}

// slug is GitHub's anchor for a heading's text: lower case, each space a
// hyphen, and every character dropped but letters, digits, marks, '-'
// and connector punctuation such as '_'.
func slug(text string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(text)) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-', unicode.IsLetter(r), unicode.IsNumber(r), unicode.IsMark(r), unicode.Is(unicode.Pc, r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// checkLink reports why target, a link in file, does not resolve inside
// root; nil when it does or when it is an http(s) or mailto link.
func checkLink(root, file, target string) error {
	if m := urlScheme.FindString(target); m != "" {
		switch strings.ToLower(m) {
		case "http:", "https:", "mailto:":
			return nil
		}
		return fmt.Errorf("scheme %s is neither http(s) nor mailto", m)
	}
	path, frag, hasFrag := strings.Cut(target, "#")
	path, err := url.PathUnescape(path)
	if err != nil {
		return fmt.Errorf("bad escape: %v", err)
	}
	if hasFrag && frag == "" {
		return fmt.Errorf("empty anchor")
	}
	resolved := file
	if path != "" {
		if strings.HasPrefix(path, "/") {
			return fmt.Errorf("absolute path; use a path relative to %s", filepath.Base(file))
		}
		// Walk the path from the file's directory: a step above the root
		// leaves the repository, even if a later step comes back (which
		// works only in a checkout whose directory has that name).
		rel, err := filepath.Rel(root, filepath.Dir(file))
		if err != nil {
			return err
		}
		depth := 0
		if rel != "." {
			depth = len(strings.Split(rel, string(filepath.Separator)))
		}
		for _, step := range strings.Split(path, "/") {
			switch step {
			case "", ".":
			case "..":
				depth--
			default:
				depth++
			}
			if depth < 0 {
				return fmt.Errorf("leads out of the repository")
			}
		}
		resolved = filepath.Join(filepath.Dir(file), filepath.FromSlash(path))
	}
	info, err := os.Stat(resolved)
	if err != nil {
		return fmt.Errorf("no such file or directory")
	}
	if !hasFrag || info.IsDir() {
		return nil
	}
	if !strings.HasSuffix(resolved, ".md") {
		if lineAnchor.MatchString(frag) {
			return nil
		}
		return fmt.Errorf("anchor #%s into a file that is not Markdown", frag)
	}
	src, err := os.ReadFile(resolved)
	if err != nil {
		return err
	}
	if !anchors(string(src))[frag] {
		return fmt.Errorf("no heading with anchor #%s in %s", frag, filepath.Base(resolved))
	}
	return nil
}

// problems returns "file:line: target: reason" for every bad link in files.
func problems(t *testing.T, root string, files []string) []string {
	t.Helper()
	var out []string
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, f)
		for _, l := range extractLinks(string(src)) {
			if err := checkLink(root, f, l.target); err != nil {
				out = append(out, fmt.Sprintf("%s:%d: %s: %v", filepath.ToSlash(rel), l.line, l.target, err))
			}
		}
	}
	return out
}

func TestRelativeLinksResolve(t *testing.T) {
	if _, err := os.Stat(filepath.Join(repoRoot, "go.mod")); err != nil {
		t.Fatalf("%s is not the repository root: %v", repoRoot, err)
	}
	files, err := markdownFiles(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	relative := 0
	for _, l := range extractLinks(string(readme)) {
		if !urlScheme.MatchString(l.target) {
			relative++
		}
	}
	if relative == 0 {
		t.Fatal("found no relative link in README.md: the extractor is broken")
	}
	for _, p := range problems(t, repoRoot, files) {
		t.Error(p)
	}
}

// TestCheckerCatchesBadLinks runs the checker on a made-up repository, so
// that it is known to fail on each kind of bad link.
func TestCheckerCatchesBadLinks(t *testing.T) {
	root := t.TempDir()
	write := func(path, content string) {
		t.Helper()
		p := filepath.Join(root, filepath.FromSlash(path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("README.md", strings.Join([]string{
		"# Top",
		"## Wire contract",
		"## Wire contract",
		"Good: [c](docs/contract.md), [d](docs/), [a](docs/contract.md#event-json), [s](#wire-contract-1),",
		"[x](docs/contract.md \"title\"), [w](https://example.com/x), [m](mailto:a@b.c), [l](main.go#L3).",
		"Bad: [1](docs/missing.md) [2](../outside/notes.md) [3](docs/contract.md#no-such)",
		"[4](#nowhere) [5](/docs/contract.md) [6](ftp://x) [7](docs/../../x/README.md)",
		"[8]: docs/gone.md",
		"<a href=\"docs/also-gone.md\">9</a> ![10](img/none.png) [11](main.go#nope)",
		"Ignored: `[code](docs/missing.md)` and",
		"```",
		"[fenced](docs/missing.md)",
		"```",
	}, "\n"))
	write("docs/contract.md", "# Contract\n## Event JSON\n[up](../README.md#top) [bad](../../outside.md)\n")
	write("main.go", "package main\n")

	files, err := markdownFiles(root)
	if err != nil {
		t.Fatal(err)
	}
	got := problems(t, root, files)
	want := []string{
		"README.md:6: docs/missing.md: no such file or directory",
		"README.md:6: ../outside/notes.md: leads out of the repository",
		"README.md:6: docs/contract.md#no-such: no heading with anchor #no-such in contract.md",
		"README.md:7: #nowhere: no heading with anchor #nowhere in README.md",
		"README.md:7: /docs/contract.md: absolute path; use a path relative to README.md",
		"README.md:7: ftp://x: scheme ftp: is neither http(s) nor mailto",
		"README.md:7: docs/../../x/README.md: leads out of the repository",
		"README.md:8: docs/gone.md: no such file or directory",
		"README.md:9: docs/also-gone.md: no such file or directory",
		"README.md:9: img/none.png: no such file or directory",
		"README.md:9: main.go#nope: anchor #nope into a file that is not Markdown",
		"docs/contract.md:3: ../../outside.md: leads out of the repository",
	}
	if !slices.Equal(got, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestSlug(t *testing.T) {
	for _, c := range []struct{ heading, want string }{
		{"Wire contract", "wire-contract"},
		{"A second process manager on the engine", "a-second-process-manager-on-the-engine"},
		{"When `End` fails, or will not say: assume nothing", "when-end-fails-or-will-not-say-assume-nothing"},
		{"Event (input) JSON", "event-input-json"},
		{"Rules 1–8", "rules-18"},
		{"`dlq-*` headers", "dlq--headers"},
		{"max_history and [links](x.md)", "max_history-and-links"},
		{"Café 🍰", "café-"},
	} {
		if got := slug(headingText(c.heading)); got != c.want {
			t.Errorf("slug(%q) = %q, want %q", c.heading, got, c.want)
		}
	}
}
