// Command render is a test-only stand-in for `helm template`: no helm binary
// can be installed on the project's machines, so the chart tests render the
// chart with the same engine Helm uses (Go text/template + sprig) and the
// Helm built-ins this chart relies on:
//
//	.Values .Release .Chart .Capabilities (minimal) .Template
//	include tpl required toYaml fromYaml toJson fail (+ sprig, less env/expandenv)
//
// Values files given with -f are coalesced over the chart's values.yaml the
// way Helm does it: maps merge key by key, anything else replaces, and a null
// deletes the key. Numbers come out as float64, as they do through Helm's
// JSON-based YAML reader.
//
// Usage:
//
//	render -chart DIR [-f FILE]... [-name RELEASE] [-namespace NS] [-notes] [-values]
//
// It prints every rendered non-partial template as multi-document YAML with a
// "# Source:" line per document (like helm template), or with -notes the
// rendered NOTES.txt, or with -values the coalesced values as JSON (for the
// schema check Helm performs before rendering). Any template error exits 1.
//
// Build offline in GOPATH mode against Debian's packaged sources:
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o render ./test/chart/render
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/ioutil"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	yaml "gopkg.in/yaml.v2"
)

type fileList []string

func (f *fileList) String() string     { return strings.Join(*f, ",") }
func (f *fileList) Set(v string) error { *f = append(*f, v); return nil }

type apiVersions []string

// Has mirrors Helm's .Capabilities.APIVersions.Has.
func (a apiVersions) Has(v string) bool {
	for _, x := range a {
		if x == v {
			return true
		}
	}
	return false
}

func main() {
	chartDir := flag.String("chart", "", "chart directory")
	name := flag.String("name", "callmap", "release name")
	namespace := flag.String("namespace", "default", "release namespace")
	notes := flag.Bool("notes", false, "print the rendered NOTES.txt instead of the manifests")
	dumpValues := flag.Bool("values", false, "print the coalesced values as JSON instead of the manifests")
	var files fileList
	flag.Var(&files, "f", "values file coalesced over values.yaml (repeatable)")
	flag.Parse()
	if *chartDir == "" {
		fail(errors.New("-chart is required"))
	}
	out, err := run(*chartDir, *name, *namespace, files, *notes, *dumpValues)
	if err != nil {
		fail(err)
	}
	os.Stdout.WriteString(out)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "render:", err)
	os.Exit(1)
}

func run(chartDir, name, namespace string, files []string, notes, dumpValues bool) (string, error) {
	chartMeta, err := readYAML(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		return "", err
	}
	values, err := readYAML(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		return "", err
	}
	for _, f := range files {
		override, err := readYAML(f)
		if err != nil {
			return "", err
		}
		values = coalesce(values, override)
	}
	if dumpValues {
		b, err := json.MarshalIndent(values, "", "  ")
		return string(b) + "\n", err
	}
	chartName, _ := chartMeta["name"].(string)
	if chartName == "" {
		return "", errors.New("Chart.yaml has no name")
	}

	root := template.New("gotpl").Option("missingkey=zero")
	root.Funcs(funcMap(root))
	tplDir := filepath.Join(chartDir, "templates")
	entries, err := ioutil.ReadDir(tplDir)
	if err != nil {
		return "", err
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		body, err := ioutil.ReadFile(filepath.Join(tplDir, e.Name()))
		if err != nil {
			return "", err
		}
		tname := chartName + "/templates/" + e.Name()
		if _, err := root.New(tname).Parse(string(body)); err != nil {
			return "", err
		}
		names = append(names, tname)
	}
	sort.Strings(names)

	top := map[string]interface{}{
		"Values": values,
		"Release": map[string]interface{}{
			"Name": name, "Namespace": namespace, "Service": "Helm",
			"IsInstall": true, "IsUpgrade": false, "Revision": 1,
		},
		"Chart": map[string]interface{}{
			"Name": chartName, "Version": chartMeta["version"], "AppVersion": chartMeta["appVersion"],
			"Description": chartMeta["description"], "Type": chartMeta["type"],
		},
		"Capabilities": map[string]interface{}{
			"KubeVersion": map[string]interface{}{"Version": "v1.31.0", "Major": "1", "Minor": "31", "GitVersion": "v1.31.0"},
			"APIVersions": apiVersions{"v1", "apps/v1", "batch/v1", "rbac.authorization.k8s.io/v1", "networking.k8s.io/v1", "policy/v1"},
		},
	}

	var out strings.Builder
	for _, tname := range names {
		base := filepath.Base(tname)
		isNotes := base == "NOTES.txt"
		if strings.HasPrefix(base, "_") || isNotes != notes {
			continue
		}
		vals := map[string]interface{}{}
		for k, v := range top {
			vals[k] = v
		}
		vals["Template"] = map[string]interface{}{"Name": tname, "BasePath": chartName + "/templates"}
		var buf bytes.Buffer
		if err := root.ExecuteTemplate(&buf, tname, vals); err != nil {
			return "", err
		}
		rendered := strings.ReplaceAll(buf.String(), "<no value>", "")
		if notes {
			out.WriteString(rendered)
			continue
		}
		for _, doc := range splitDocs(rendered) {
			out.WriteString("---\n# Source: " + tname + "\n" + doc + "\n")
		}
	}
	return out.String(), nil
}

// splitDocs splits a rendered template on YAML document separators and drops
// documents that are empty or only comments, like Helm does.
func splitDocs(s string) []string {
	var docs []string
	var cur []string
	flush := func() {
		doc := strings.TrimSpace(strings.Join(cur, "\n"))
		cur = nil
		meaningful := false
		for _, l := range strings.Split(doc, "\n") {
			t := strings.TrimSpace(l)
			if t != "" && !strings.HasPrefix(t, "#") {
				meaningful = true
				break
			}
		}
		if meaningful {
			docs = append(docs, doc)
		}
	}
	for _, line := range strings.Split(s, "\n") {
		if strings.TrimRight(line, " \t") == "---" {
			flush()
			continue
		}
		cur = append(cur, line)
	}
	flush()
	return docs
}

func funcMap(root *template.Template) template.FuncMap {
	f := sprig.TxtFuncMap()
	delete(f, "env")
	delete(f, "expandenv")
	f["toYaml"] = toYAML
	f["fromYaml"] = fromYAML
	f["toJson"] = func(v interface{}) string {
		b, err := json.Marshal(v)
		if err != nil {
			return ""
		}
		return string(b)
	}
	f["required"] = func(msg string, v interface{}) (interface{}, error) {
		if v == nil {
			return nil, errors.New(msg)
		}
		if s, ok := v.(string); ok && s == "" {
			return nil, errors.New(msg)
		}
		return v, nil
	}
	f["fail"] = func(msg string) (string, error) { return "", errors.New(msg) }
	f["include"] = func(name string, data interface{}) (string, error) {
		var buf bytes.Buffer
		if err := root.ExecuteTemplate(&buf, name, data); err != nil {
			return "", err
		}
		return buf.String(), nil
	}
	f["tpl"] = func(text string, data interface{}) (string, error) {
		clone, err := root.Clone()
		if err != nil {
			return "", err
		}
		t, err := clone.New("tpl").Parse(text)
		if err != nil {
			return "", err
		}
		var buf bytes.Buffer
		if err := t.Execute(&buf, data); err != nil {
			return "", err
		}
		return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
	}
	return f
}

func toYAML(v interface{}) string {
	b, err := yaml.Marshal(intify(v))
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(b), "\n")
}

func fromYAML(s string) map[string]interface{} {
	var raw interface{}
	if err := yaml.Unmarshal([]byte(s), &raw); err != nil {
		return map[string]interface{}{"Error": err.Error()}
	}
	m, _ := jsonRoundTrip(stringKeys(raw)).(map[string]interface{})
	if m == nil {
		m = map[string]interface{}{}
	}
	return m
}

// intify turns integral float64s back into integers so toYaml prints 9090,
// not 9090 or 1e+06 (sigs.k8s.io/yaml, which Helm uses, does the same).
func intify(v interface{}) interface{} {
	switch t := v.(type) {
	case map[string]interface{}:
		out := make(map[string]interface{}, len(t))
		for k, x := range t {
			out[k] = intify(x)
		}
		return out
	case []interface{}:
		out := make([]interface{}, len(t))
		for i, x := range t {
			out[i] = intify(x)
		}
		return out
	case float64:
		if t == math.Trunc(t) && math.Abs(t) < 1e15 {
			return int64(t)
		}
		return t
	default:
		return v
	}
}

func readYAML(path string) (map[string]interface{}, error) {
	body, err := ioutil.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var raw interface{}
	if err := yaml.Unmarshal(body, &raw); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if raw == nil {
		return map[string]interface{}{}, nil
	}
	m, ok := jsonRoundTrip(stringKeys(raw)).(map[string]interface{})
	if !ok {
		return nil, fmt.Errorf("%s: top level is not a map", path)
	}
	return m, nil
}

func stringKeys(v interface{}) interface{} {
	switch t := v.(type) {
	case map[interface{}]interface{}:
		out := make(map[string]interface{}, len(t))
		for k, x := range t {
			out[fmt.Sprint(k)] = stringKeys(x)
		}
		return out
	case []interface{}:
		out := make([]interface{}, len(t))
		for i, x := range t {
			out[i] = stringKeys(x)
		}
		return out
	default:
		return v
	}
}

func jsonRoundTrip(v interface{}) interface{} {
	b, err := json.Marshal(v)
	if err != nil {
		return v
	}
	var out interface{}
	if err := json.Unmarshal(b, &out); err != nil {
		return v
	}
	return out
}

// coalesce merges override over base like Helm: nested maps merge, other
// values replace, and an explicit null removes the key.
func coalesce(base, override map[string]interface{}) map[string]interface{} {
	out := make(map[string]interface{}, len(base))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range override {
		if v == nil {
			delete(out, k)
			continue
		}
		bm, bok := out[k].(map[string]interface{})
		om, ook := v.(map[string]interface{})
		if bok && ook {
			out[k] = coalesce(bm, om)
			continue
		}
		out[k] = v
	}
	return out
}
