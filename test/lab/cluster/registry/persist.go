package registry

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/v1/types"
)

// go-containerregistry's registry keeps manifests in memory only. With a
// Dir, manifests persists them: each manifest body is stored beside the blobs
// (by digest, as a blob) and each PUT or DELETE is appended to a journal;
// the next start replays the journal, so a restarted registry serves the
// same names without anyone pushing again.

// journalFile lists manifest PUTs and DELETEs, one JSON record a line.
const journalFile = "manifests.jsonl"

// maxManifest bounds a manifest body read into memory; the distribution spec
// lets registries refuse manifests above 4 MiB.
const maxManifest = 4 << 20

type record struct {
	Repo   string `json:"repo"`
	Ref    string `json:"ref"`
	Type   string `json:"type,omitempty"`
	Digest string `json:"digest,omitempty"`
	Delete bool   `json:"delete,omitempty"`
}

// manifests wraps the registry handler and journals its manifest writes.
type manifests struct {
	next http.Handler
	dir  string
	log  *log.Logger
	// mu serializes journal appends so records never interleave.
	mu sync.Mutex
}

// manifestPath returns the repository and reference of a manifest URL
// (/v2/<repo>/manifests/<ref>), as the registry itself splits it.
func manifestPath(p string) (repo, ref string, ok bool) {
	elem := strings.Split(p, "/")
	if len(elem) < 5 || elem[0] != "" || elem[1] != "v2" || elem[len(elem)-2] != "manifests" {
		return "", "", false
	}
	return strings.Join(elem[2:len(elem)-2], "/"), elem[len(elem)-1], true
}

func (m *manifests) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	repo, ref, ok := manifestPath(r.URL.Path)
	if !ok || (r.Method != http.MethodPut && r.Method != http.MethodDelete) {
		m.next.ServeHTTP(w, r)
		return
	}
	rec := record{Repo: repo, Ref: ref, Delete: r.Method == http.MethodDelete}
	if r.Method == http.MethodPut {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxManifest+1))
		if err != nil || len(body) > maxManifest {
			http.Error(w, "manifest unreadable or above 4 MiB", http.StatusBadRequest)
			return
		}
		sum := sha256.Sum256(body)
		rec.Type, rec.Digest = r.Header.Get("Content-Type"), "sha256:"+hex.EncodeToString(sum[:])
		if err := m.storeBody(sum[:], body); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	m.next.ServeHTTP(sw, r)
	if sw.status/100 != 2 {
		return
	}
	if err := m.append(rec); err != nil {
		// The client's write succeeded in memory; only a restart loses it.
		m.log.Printf("journal: %v", err)
	}
}

func (m *manifests) bodyPath(hexDigest string) string {
	return filepath.Join(m.dir, "sha256", hexDigest)
}

// storeBody writes a manifest body where the disk blob store keeps blobs.
func (m *manifests) storeBody(sum, body []byte) error {
	path := m.bodyPath(hex.EncodeToString(sum))
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	f, err := os.CreateTemp(m.dir, "manifest-*")
	if err != nil {
		return fmt.Errorf("storing manifest: %w", err)
	}
	_, werr := f.Write(body)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(f.Name(), path)
	}
	if werr != nil {
		os.Remove(f.Name())
		return fmt.Errorf("storing manifest: %w", werr)
	}
	return nil
}

func (m *manifests) append(rec record) error {
	line, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	f, err := os.OpenFile(filepath.Join(m.dir, journalFile), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(append(line, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// replay loads the journal into the registry and rewrites it compacted: the
// last record per repository and reference, deletions dropped. Images go
// before indexes, because the registry refuses an index whose manifests it
// does not have. A record whose body is gone is skipped and logged.
func (m *manifests) replay() error {
	recs, err := readJournal(filepath.Join(m.dir, journalFile))
	if err != nil {
		return err
	}
	last := map[[2]string]int{}
	for i, r := range recs {
		last[[2]string{r.Repo, r.Ref}] = i
	}
	var keep []record
	for i, r := range recs {
		if last[[2]string{r.Repo, r.Ref}] == i && !r.Delete {
			keep = append(keep, r)
		}
	}
	sort.SliceStable(keep, func(i, j int) bool {
		return !types.MediaType(keep[i].Type).IsIndex() && types.MediaType(keep[j].Type).IsIndex()
	})
	var loaded []record
	for _, r := range keep {
		if err := m.load(r); err != nil {
			m.log.Printf("journal: skipping %s:%s: %v", r.Repo, r.Ref, err)
			continue
		}
		loaded = append(loaded, r)
	}
	return m.rewrite(loaded)
}

func (m *manifests) load(r record) error {
	body, err := os.ReadFile(m.bodyPath(strings.TrimPrefix(r.Digest, "sha256:")))
	if err != nil {
		return err
	}
	req := httptest.NewRequest(http.MethodPut, "/v2/"+r.Repo+"/manifests/"+r.Ref, bytes.NewReader(body))
	req.Header.Set("Content-Type", r.Type)
	rec := httptest.NewRecorder()
	m.next.ServeHTTP(rec, req)
	if rec.Code/100 != 2 {
		return fmt.Errorf("registry answered %d: %s", rec.Code, strings.TrimSpace(rec.Body.String()))
	}
	return nil
}

func readJournal(path string) ([]record, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("registry journal: %w", err)
	}
	defer f.Close()
	var recs []record
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			// A line cut short by a crash mid-append: the records before it stand.
			continue
		}
		recs = append(recs, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("registry journal %s: %w", path, err)
	}
	return recs, nil
}

// rewrite replaces the journal atomically with recs.
func (m *manifests) rewrite(recs []record) error {
	var buf bytes.Buffer
	for _, r := range recs {
		line, err := json.Marshal(r)
		if err != nil {
			return err
		}
		buf.Write(append(line, '\n'))
	}
	tmp := filepath.Join(m.dir, journalFile+".tmp")
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("registry journal: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(m.dir, journalFile)); err != nil {
		return fmt.Errorf("registry journal: %w", err)
	}
	return nil
}

// statusWriter remembers the status code the registry answered.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}
