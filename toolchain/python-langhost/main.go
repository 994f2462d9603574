// Command pulumi-language-python is azora's Python language host for the Pulumi
// engine.
//
// Why it exists: the upstream host lives in its own Go module
// (github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3) that is
// never tagged and that the Go module proxy reachable from this project does
// not serve at any version. The engine talks to a language host only through
// the LanguageRuntime gRPC service, so this small host implements the part of
// that service the engine uses to run Python programs and Python policy packs:
//
//   - Run executes a program through the `pulumi-language-python-exec` shim that
//     ships with the Pulumi Python SDK (copied next to this binary);
//   - RunPlugin runs Python policy packs (`python -m pulumi.policy`) and Python
//     plugins, streaming their output back to the engine;
//   - GetRequiredPackages/GetRequiredPlugins report the resource plugins that
//     installed Pulumi Python packages declare in their pulumi-plugin.json;
//   - InstallDependencies creates a missing virtualenv and installs
//     requirements.txt into it.
//
// Code generation (convert, package gen) is not implemented: azora never asks
// for it, and the engine reports "unimplemented" cleanly if someone does.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
)

// version is set at link time to the Pulumi version this host is paired with.
var version = "0.0.0-dev"

func main() {
	// The engine passes flags first and its own address as the last positional
	// argument. Unknown flags (e.g. -tracing, -root, -virtualenv from older
	// engines) are accepted and ignored so a newer engine never breaks us.
	flags := flag.NewFlagSet("pulumi-language-python", flag.ContinueOnError)
	flags.String("tracing", "", "ignored: tracing endpoint")
	flags.String("root", "", "ignored: project root, taken from the program info instead")
	flags.String("virtualenv", "", "ignored: virtualenv, taken from the program info instead")
	if err := flags.Parse(os.Args[1:]); err != nil {
		fail(err)
	}
	engineAddress := ""
	if args := flags.Args(); len(args) > 0 {
		engineAddress = args[len(args)-1]
	}

	execShim, err := findExecShim()
	if err != nil {
		fail(err)
	}

	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, newHost(engineAddress, execShim))
			return nil
		},
	})
	if err != nil {
		fail(fmt.Errorf("could not start language host RPC server: %w", err))
	}

	// The engine reads the port from our first line of output.
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		fail(fmt.Errorf("language host RPC stopped serving: %w", err))
	}
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "pulumi-language-python: %v\n", err)
	os.Exit(1)
}
