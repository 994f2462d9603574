package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
)

// userActionableExit is the exit code the exec shim uses after it has already
// shown the user an error; the engine should then not add a second message.
const userActionableExit = 32

type host struct {
	pulumirpc.UnimplementedLanguageRuntimeServer

	mu            sync.Mutex
	engineAddress string
	execShim      string
}

func newHost(engineAddress, execShim string) *host {
	return &host{engineAddress: engineAddress, execShim: execShim}
}

func (h *host) engine() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.engineAddress
}

// Handshake records the engine address (newer engines send it here rather
// than, or as well as, on the command line).
func (h *host) Handshake(_ context.Context, req *pulumirpc.LanguageHandshakeRequest,
) (*pulumirpc.LanguageHandshakeResponse, error) {
	if req.GetEngineAddress() != "" {
		h.mu.Lock()
		h.engineAddress = req.GetEngineAddress()
		h.mu.Unlock()
	}
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *host) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version}, nil
}

// location is where a program lives, whether the engine sent a ProgramInfo
// (current engines) or only the older pwd/program fields.
type location struct {
	root, dir, entry string
}

func locate(info *pulumirpc.ProgramInfo, pwd, program string) location {
	if info != nil && info.GetProgramDirectory() != "" {
		root := info.GetRootDirectory()
		if root == "" {
			root = info.GetProgramDirectory()
		}
		return location{root: root, dir: info.GetProgramDirectory(), entry: info.GetEntryPoint()}
	}
	return location{root: pwd, dir: pwd, entry: program}
}

// entryPath is the file or directory the interpreter runs; "." means the
// directory itself, which runs its __main__.py.
func (l location) entryPath() string {
	if l.entry == "" || l.entry == "." {
		return l.dir
	}
	if filepath.IsAbs(l.entry) {
		return l.entry
	}
	return filepath.Join(l.dir, l.entry)
}

// Run executes a Pulumi program through the SDK's exec shim, which connects
// the program to the engine's resource monitor.
func (h *host) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	loc := locate(req.GetInfo(), req.GetPwd(), req.GetProgram())
	py, err := resolvePython(req.GetInfo().GetOptions(), loc.root)
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
	env, err := configEnv(req)
	if err != nil {
		return nil, err
	}

	cmd := exec.CommandContext(ctx, py.python, append([]string{"-u", h.execShim}, h.runArgs(req, loc)...)...)
	cmd.Dir = loc.dir
	cmd.Env = py.environ(append(os.Environ(), env...))
	// The engine reads our stdout/stderr and shows them as program output.
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr

	err = cmd.Run()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return &pulumirpc.RunResponse{}, nil
	case errors.As(err, &exitErr) && exitErr.ExitCode() == userActionableExit:
		return &pulumirpc.RunResponse{Bail: true}, nil
	case errors.As(err, &exitErr):
		return &pulumirpc.RunResponse{
			Error: fmt.Sprintf("Program exited with non-zero exit code: %d", exitErr.ExitCode()),
		}, nil
	default:
		return &pulumirpc.RunResponse{
			Error: fmt.Sprintf("could not run the Python program with %s: %v", py.python, err),
		}, nil
	}
}

// runArgs builds the exec shim's command line (see its argparse definition).
func (h *host) runArgs(req *pulumirpc.RunRequest, loc location) []string {
	args := []string{
		"--monitor", req.GetMonitorAddress(),
		"--engine", h.engine(),
		"--project", req.GetProject(),
		"--stack", req.GetStack(),
		"--pwd", loc.dir,
		"--dry_run", fmt.Sprint(req.GetDryRun()),
		"--parallel", fmt.Sprint(req.GetParallel()),
		"--root_directory", loc.root,
	}
	if req.GetOrganization() != "" {
		args = append(args, "--organization", req.GetOrganization())
	}
	args = append(args, loc.entryPath())
	return append(args, req.GetArgs()...)
}

// configEnv passes stack configuration the way the Python SDK reads it.
func configEnv(req *pulumirpc.RunRequest) ([]string, error) {
	values := req.GetConfig()
	if values == nil {
		values = map[string]string{} // the SDK expects an object, never null
	}
	config, err := json.Marshal(values)
	if err != nil {
		return nil, fmt.Errorf("serializing configuration: %w", err)
	}
	secretKeys := req.GetConfigSecretKeys()
	if secretKeys == nil {
		secretKeys = []string{}
	}
	keys, err := json.Marshal(secretKeys)
	if err != nil {
		return nil, fmt.Errorf("serializing secret configuration keys: %w", err)
	}
	return []string{"PULUMI_CONFIG=" + string(config), "PULUMI_CONFIG_SECRET_KEYS=" + string(keys)}, nil
}

// RunPlugin runs a plugin written in Python. Policy packs (kind "analyzer") run
// the SDK's policy entry point, `python -m pulumi.policy ENGINE PACK_DIR`, in
// the pack's directory; other plugins run their entry point with the engine's
// arguments.
func (h *host) RunPlugin(req *pulumirpc.RunPluginRequest,
	stream grpc.ServerStreamingServer[pulumirpc.RunPluginResponse],
) error {
	loc := locate(req.GetInfo(), req.GetPwd(), req.GetProgram())
	py, err := resolvePython(req.GetInfo().GetOptions(), loc.root)
	if err != nil {
		return err
	}

	var args []string
	dir := loc.dir
	if req.GetKind() == "analyzer" {
		args = append([]string{"-u", "-m", "pulumi.policy"}, req.GetArgs()...)
		args = append(args, loc.dir)
	} else {
		args = append([]string{"-u", loc.entryPath()}, req.GetArgs()...)
		if req.GetPwd() != "" {
			dir = req.GetPwd()
		}
	}

	base := req.GetEnv()
	if len(base) == 0 {
		base = os.Environ()
	}
	cmd := exec.CommandContext(stream.Context(), py.python, args...)
	cmd.Dir = dir
	cmd.Env = py.environ(base)

	send := lockedSender(stream)
	cmd.Stdout = writerFunc(func(p []byte) error {
		return send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stdout{Stdout: clone(p)}})
	})
	cmd.Stderr = writerFunc(func(p []byte) error {
		return send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stderr{Stderr: clone(p)}})
	})

	code := int32(0)
	if err := cmd.Run(); err != nil {
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) {
			return fmt.Errorf("could not run the Python plugin with %s: %w", py.python, err)
		}
		code = int32(exitErr.ExitCode())
	}
	return send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Exitcode{Exitcode: code}})
}

// GetRequiredPackages reports the resource plugins of installed Pulumi packages
// so the engine can check they are present before running the program.
func (h *host) GetRequiredPackages(ctx context.Context, req *pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	deps, err := h.plugins(ctx, req.GetInfo(), "", "")
	if err != nil {
		return nil, err
	}
	packages := make([]*pulumirpc.PackageDependency, 0, len(deps))
	for _, d := range deps {
		packages = append(packages, &pulumirpc.PackageDependency{
			Name: d.Name, Kind: "resource", Version: d.Version, Server: d.Server,
		})
	}
	return &pulumirpc.GetRequiredPackagesResponse{Packages: packages}, nil
}

// GetRequiredPlugins is the older form of GetRequiredPackages.
func (h *host) GetRequiredPlugins(ctx context.Context, req *pulumirpc.GetRequiredPluginsRequest,
) (*pulumirpc.GetRequiredPluginsResponse, error) {
	deps, err := h.plugins(ctx, req.GetInfo(), req.GetPwd(), req.GetProgram())
	if err != nil {
		return nil, err
	}
	plugins := make([]*pulumirpc.PluginDependency, 0, len(deps))
	for _, d := range deps {
		plugins = append(plugins, &pulumirpc.PluginDependency{
			Name: d.Name, Kind: "resource", Version: d.Version, Server: d.Server,
		})
	}
	return &pulumirpc.GetRequiredPluginsResponse{Plugins: plugins}, nil
}

func (h *host) plugins(ctx context.Context, info *pulumirpc.ProgramInfo, pwd, program string,
) ([]pluginDep, error) {
	loc := locate(info, pwd, program)
	py, err := resolvePython(info.GetOptions(), loc.root)
	if err != nil {
		return nil, err
	}
	return requiredPlugins(ctx, py, loc.dir)
}

// InstallDependencies creates the project's virtualenv if it is configured but
// missing, then installs requirements.txt into it. Without a virtualenv option
// nothing is installed: azora never installs into a system interpreter.
func (h *host) InstallDependencies(req *pulumirpc.InstallDependenciesRequest,
	stream grpc.ServerStreamingServer[pulumirpc.InstallDependenciesResponse],
) error {
	loc := locate(req.GetInfo(), req.GetDirectory(), "")
	venv := option(req.GetInfo().GetOptions(), "virtualenv")
	if venv == "" {
		return nil
	}
	if !filepath.IsAbs(venv) {
		venv = filepath.Join(loc.root, venv)
	}
	send := lockedInstallSender(stream)
	out := writerFunc(func(p []byte) error {
		return send(&pulumirpc.InstallDependenciesResponse{Stdout: clone(p)})
	})
	errOut := writerFunc(func(p []byte) error {
		return send(&pulumirpc.InstallDependenciesResponse{Stderr: clone(p)})
	})
	python := filepath.Join(venv, "bin", "python")
	if _, err := os.Stat(python); err != nil {
		if err := runTo(stream.Context(), loc.root, out, errOut, "python3", "-m", "venv", venv); err != nil {
			return fmt.Errorf("creating virtualenv %s: %w", venv, err)
		}
	}
	requirements := filepath.Join(loc.root, "requirements.txt")
	if _, err := os.Stat(requirements); err != nil {
		return nil
	}
	return runTo(stream.Context(), loc.root, out, errOut, python, "-m", "pip", "install", "-r", requirements)
}

func runTo(ctx context.Context, dir string, stdout, stderr io.Writer, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = stdout, stderr
	return cmd.Run()
}

// About describes the interpreter a project would use (`pulumi about`).
func (h *host) About(ctx context.Context, req *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	loc := locate(req.GetInfo(), "", "")
	py, err := resolvePython(req.GetInfo().GetOptions(), loc.root)
	if err != nil {
		return nil, err
	}
	out, err := exec.CommandContext(ctx, py.python, "--version").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("running %s --version: %w", py.python, err)
	}
	v := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(string(out)), "Python"))
	return &pulumirpc.AboutResponse{Executable: py.python, Version: v}, nil
}

// GetProgramDependencies lists the installed distributions (`pulumi about`).
func (h *host) GetProgramDependencies(ctx context.Context, req *pulumirpc.GetProgramDependenciesRequest,
) (*pulumirpc.GetProgramDependenciesResponse, error) {
	loc := locate(req.GetInfo(), req.GetPwd(), req.GetProgram())
	py, err := resolvePython(req.GetInfo().GetOptions(), loc.root)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, py.python, "-m", "pip", "list", "--format", "json")
	cmd.Dir = loc.dir
	cmd.Env = py.environ(os.Environ())
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("running pip list: %w", err)
	}
	var listed []struct{ Name, Version string }
	if err := json.Unmarshal(out, &listed); err != nil {
		return nil, fmt.Errorf("parsing pip list output: %w", err)
	}
	deps := make([]*pulumirpc.DependencyInfo, 0, len(listed))
	for _, d := range listed {
		deps = append(deps, &pulumirpc.DependencyInfo{Name: d.Name, Version: d.Version})
	}
	return &pulumirpc.GetProgramDependenciesResponse{Dependencies: deps}, nil
}

func (h *host) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

// writerFunc adapts a send function to io.Writer for a child's output.
type writerFunc func([]byte) error

func (f writerFunc) Write(p []byte) (int, error) {
	if err := f(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// clone copies p: exec reuses its buffer after Write returns.
func clone(p []byte) []byte { return append([]byte(nil), p...) }

// A gRPC stream must not be sent on from two goroutines at once, and a child's
// stdout and stderr are copied by two goroutines.
func lockedSender(s grpc.ServerStreamingServer[pulumirpc.RunPluginResponse],
) func(*pulumirpc.RunPluginResponse) error {
	var mu sync.Mutex
	return func(m *pulumirpc.RunPluginResponse) error {
		mu.Lock()
		defer mu.Unlock()
		return s.Send(m)
	}
}

func lockedInstallSender(s grpc.ServerStreamingServer[pulumirpc.InstallDependenciesResponse],
) func(*pulumirpc.InstallDependenciesResponse) error {
	var mu sync.Mutex
	return func(m *pulumirpc.InstallDependenciesResponse) error {
		mu.Lock()
		defer mu.Unlock()
		return s.Send(m)
	}
}
