// Command goparse reads Grafana's configuration files the way Grafana does and prints the values
// Grafana ends up with, as JSON, for tests/security/test_secret_formats.py.
//
//	goparse ini FILE   grafana.ini: gopkg.in/ini.v1 ini.Load (as pkg/setting loads it), then the
//	                   expansion of ${VAR}, $__env{VAR} and $__file{PATH} in every value
//	                   (pkg/setting/expanders.go)
//	goparse yaml FILE  a provisioning file: gopkg.in/yaml.v3, then the interpolation of every string
//	                   ('$$' is a literal '$'; the expanders above, then os.ExpandEnv on the rest;
//	                   pkg/services/provisioning/values/values.go)
//
// The expansion rules are written here from Grafana's documented behaviour; the parsers are the
// libraries Grafana itself uses.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"

	"gopkg.in/ini.v1"
	"gopkg.in/yaml.v3"
)

var expander = regexp.MustCompile(`\$(|__\w+){([^}]+)}`)

// expand applies the env expander (priority -10), then the file expander (-5), as Grafana orders them.
func expand(s string) (string, error) {
	for _, name := range []string{"env", "file"} {
		for _, m := range expander.FindAllStringSubmatch(s, -1) {
			var value string
			switch {
			case name == "env" && (m[1] == "" || m[1] == "__env"):
				value = os.Getenv(m[2])
			case name == "file" && m[1] == "__file":
				data, err := os.ReadFile(m[2])
				if err != nil {
					return "", err
				}
				value = strings.TrimSpace(string(data))
			default:
				continue
			}
			s = strings.Replace(s, m[0], value, 1)
		}
	}
	return s, nil
}

func interpolate(s string) (string, error) {
	parts := strings.Split(s, "$$")
	for i, part := range parts {
		expanded, err := expand(part)
		if err != nil {
			return "", err
		}
		parts[i] = os.ExpandEnv(expanded)
	}
	return strings.Join(parts, "$"), nil
}

func walk(node interface{}) (interface{}, error) {
	switch v := node.(type) {
	case string:
		return interpolate(v)
	case []interface{}:
		for i := range v {
			item, err := walk(v[i])
			if err != nil {
				return nil, err
			}
			v[i] = item
		}
		return v, nil
	case map[string]interface{}:
		for key := range v {
			item, err := walk(v[key])
			if err != nil {
				return nil, err
			}
			v[key] = item
		}
		return v, nil
	default:
		return v, nil
	}
}

func readIni(path string) (interface{}, error) {
	file, err := ini.Load(path)
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]string{}
	for _, section := range file.Sections() {
		keys := map[string]string{}
		for _, key := range section.Keys() {
			value, err := expand(key.Value())
			if err != nil {
				return nil, fmt.Errorf("%s.%s: %w", section.Name(), key.Name(), err)
			}
			keys[key.Name()] = value
		}
		out[section.Name()] = keys
	}
	return out, nil
}

func readYaml(path string) (interface{}, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc interface{}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	return walk(doc)
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: goparse ini|yaml FILE")
		os.Exit(2)
	}
	var out interface{}
	var err error
	switch os.Args[1] {
	case "ini":
		out, err = readIni(os.Args[2])
	case "yaml":
		out, err = readYaml(os.Args[2])
	default:
		err = fmt.Errorf("unknown format %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "goparse:", err)
		os.Exit(1)
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, "goparse:", err)
		os.Exit(1)
	}
}
