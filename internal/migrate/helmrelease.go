package migrate

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"sigs.k8s.io/yaml"
)

// Helm keeps each revision of a release in a Secret of type
// helm.sh/release.v1 named sh.helm.release.v1.RELEASE.vN: key "release" holds
// base64 of the gzipped JSON record, whose "manifest" is every rendered
// object. `helm uninstall` deletes what that manifest lists, whatever the
// live objects' annotations say: the only way to make it leave MetalLB's
// CRDs is to take them out of the record, which is what helm's own
// mapkubeapis plugin does to records too.

// HelmReleaseSecretType is the type of Helm's release Secrets.
const HelmReleaseSecretType = "helm.sh/release.v1"

var gzipMagic = []byte{0x1f, 0x8b, 0x08}

// DecodeRelease returns the JSON record of a release Secret's "release" value.
func DecodeRelease(data []byte) (map[string]any, error) {
	raw, err := base64.StdEncoding.DecodeString(string(data))
	if err != nil {
		return nil, fmt.Errorf("helm release record: not base64: %w", err)
	}
	if bytes.HasPrefix(raw, gzipMagic) {
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("helm release record: %w", err)
		}
		if raw, err = io.ReadAll(zr); err != nil {
			return nil, fmt.Errorf("helm release record: %w", err)
		}
	}
	var rec map[string]any
	if err := json.Unmarshal(raw, &rec); err != nil {
		return nil, fmt.Errorf("helm release record: %w", err)
	}
	return rec, nil
}

// EncodeRelease is the inverse of DecodeRelease, as Helm writes it.
func EncodeRelease(rec map[string]any) ([]byte, error) {
	raw, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if _, err := zw.Write(raw); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return []byte(base64.StdEncoding.EncodeToString(buf.Bytes())), nil
}

// manifestDoc is what DropFromManifest needs of a rendered object.
type manifestDoc struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name string `json:"name"`
	} `json:"metadata"`
}

// DropFromManifest removes the objects drop selects from a release
// manifest ("---"-separated documents, each led by its "# Source:" line)
// and returns the rest and what it removed, as "Kind/name".
func DropFromManifest(manifest string, drop func(kind, name string) bool) (string, []string, error) {
	var kept, dropped []string
	for _, doc := range splitManifest(manifest) {
		var m manifestDoc
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			return "", nil, fmt.Errorf("helm release manifest: %w", err)
		}
		if m.Kind != "" && drop(m.Kind, m.Metadata.Name) {
			dropped = append(dropped, m.Kind+"/"+m.Metadata.Name)
			continue
		}
		kept = append(kept, doc)
	}
	if len(kept) == 0 {
		return "", dropped, nil
	}
	return "---\n" + strings.Join(kept, "\n---\n") + "\n", dropped, nil
}

func splitManifest(manifest string) []string {
	var docs []string
	for _, d := range strings.Split("\n"+manifest, "\n---") {
		d = strings.TrimPrefix(d, "\n")
		if strings.TrimSpace(d) == "" {
			continue
		}
		docs = append(docs, strings.TrimRight(d, "\n"))
	}
	return docs
}
