package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"google.golang.org/protobuf/types/known/structpb"
)

// execShimName is the SDK's program launcher; azora's toolchain copies it from
// the Pulumi Go SDK module into the same bin directory as this host.
const execShimName = "pulumi-language-python-exec"

func findExecShim() (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("locating this executable: %w", err)
	}
	shim := filepath.Join(filepath.Dir(self), execShimName)
	if _, err := os.Stat(shim); err != nil {
		return "", fmt.Errorf("missing %s next to the language host: %w", execShimName, err)
	}
	return shim, nil
}

// pythonEnv says which interpreter runs a program and how its environment must
// be adjusted so that interpreter's packages are the ones imported.
type pythonEnv struct {
	python     string // interpreter path or command name
	virtualenv string // absolute virtualenv directory, or "" for a plain interpreter
}

// option reads a string runtime option (Pulumi.yaml `runtime.options`).
func option(options *structpb.Struct, name string) string {
	if options == nil {
		return ""
	}
	if v, ok := options.GetFields()[name]; ok {
		return v.GetStringValue()
	}
	return ""
}

// resolvePython picks the interpreter the way Pulumi documents it: the
// project's `virtualenv` option if set (relative paths are relative to the
// project root), else $PULUMI_PYTHON_CMD, else python3, else python.
func resolvePython(options *structpb.Struct, rootDir string) (pythonEnv, error) {
	if venv := option(options, "virtualenv"); venv != "" {
		if !filepath.IsAbs(venv) {
			venv = filepath.Join(rootDir, venv)
		}
		python := filepath.Join(venv, "bin", "python")
		if _, err := os.Stat(python); err != nil {
			return pythonEnv{}, fmt.Errorf(
				"the 'virtualenv' option is set to %q, but %s does not exist; "+
					"create it with: python3 -m venv %s && %s -m pip install -r requirements.txt",
				venv, python, venv, python)
		}
		return pythonEnv{python: python, virtualenv: venv}, nil
	}
	if cmd := os.Getenv("PULUMI_PYTHON_CMD"); cmd != "" {
		return pythonEnv{python: cmd}, nil
	}
	for _, name := range []string{"python3", "python"} {
		if path, err := exec.LookPath(name); err == nil {
			return pythonEnv{python: path}, nil
		}
	}
	return pythonEnv{}, errors.New("no Python interpreter found: install python3 or set PULUMI_PYTHON_CMD")
}

// environ returns base with the virtualenv (if any) activated: its bin first on
// PATH, VIRTUAL_ENV set and PYTHONHOME removed, as `activate` would do.
func (p pythonEnv) environ(base []string) []string {
	if p.virtualenv == "" {
		return base
	}
	out := make([]string, 0, len(base)+2)
	path := ""
	for _, kv := range base {
		switch {
		case strings.HasPrefix(kv, "PATH="):
			path = strings.TrimPrefix(kv, "PATH=")
		case strings.HasPrefix(kv, "PYTHONHOME="), strings.HasPrefix(kv, "VIRTUAL_ENV="):
		default:
			out = append(out, kv)
		}
	}
	bin := filepath.Join(p.virtualenv, "bin")
	if path != "" {
		bin += string(os.PathListSeparator) + path
	}
	return append(out, "PATH="+bin, "VIRTUAL_ENV="+p.virtualenv)
}
