package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// pluginManifest is the pulumi-plugin.json file that Pulumi Python packages
// ship inside their import package to declare the resource plugin they need.
type pluginManifest struct {
	Resource bool   `json:"resource"`
	Name     string `json:"name"`
	Version  string `json:"version"`
	Server   string `json:"server"`
}

// pluginDep is one resource plugin a program will need.
type pluginDep struct {
	Name, Version, Server string
}

// sysPath asks the interpreter for its import path, so the scan sees exactly
// the site-packages the program will import from.
func sysPath(ctx context.Context, py pythonEnv, dir string) ([]string, error) {
	cmd := exec.CommandContext(ctx, py.python, "-c", "import json, sys; print(json.dumps(sys.path))")
	cmd.Dir = dir
	cmd.Env = py.environ(os.Environ())
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("running %s to read sys.path: %w", py.python, err)
	}
	var paths []string
	if err := json.Unmarshal(out, &paths); err != nil {
		return nil, fmt.Errorf("parsing sys.path from %s: %w", py.python, err)
	}
	return paths, nil
}

// requiredPlugins lists the resource plugins declared by installed packages.
func requiredPlugins(ctx context.Context, py pythonEnv, dir string) ([]pluginDep, error) {
	paths, err := sysPath(ctx, py, dir)
	if err != nil {
		return nil, err
	}
	seen := map[string]pluginDep{}
	for _, p := range paths {
		if p == "" || !strings.Contains(p, "-packages") {
			continue // only installed distributions, not the program's own directory
		}
		manifests, _ := filepath.Glob(filepath.Join(p, "*", "pulumi-plugin.json"))
		for _, file := range manifests {
			dep, ok := readManifest(file)
			if ok {
				seen[dep.Name] = dep
			}
		}
	}
	deps := make([]pluginDep, 0, len(seen))
	for _, d := range seen {
		deps = append(deps, d)
	}
	sort.Slice(deps, func(i, j int) bool { return deps[i].Name < deps[j].Name })
	return deps, nil
}

func readManifest(file string) (pluginDep, bool) {
	data, err := os.ReadFile(file)
	if err != nil {
		return pluginDep{}, false
	}
	var m pluginManifest
	if json.Unmarshal(data, &m) != nil || !m.Resource || m.Name == "" || m.Version == "" {
		return pluginDep{}, false
	}
	version := m.Version
	if !strings.HasPrefix(version, "v") {
		version = "v" + version
	}
	return pluginDep{Name: m.Name, Version: version, Server: m.Server}, true
}
