// Command pause is the first process of a pod sandbox: it holds the sandbox's
// namespaces open until the runtime stops it. It does what Kubernetes' pause
// (build/pause/linux/pause.c) does: wait for SIGINT or SIGTERM and exit 0, and as
// PID 1 of the pod's PID namespace reap the orphans re-parented to it (on SIGCHLD).
// `pause -v` prints its version. Built with CGO_ENABLED=0: a static binary.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// version is set at link time by the toolchain build.
var version = "dev"

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-v" {
		fmt.Printf("pause (azora) %s\n", version)
		return
	}
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "Warning: pause should be the first process")
	}
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range signals {
		if sig == syscall.SIGCHLD {
			reap()
			continue
		}
		fmt.Fprintf(os.Stderr, "Shutting down, got signal: %v\n", sig)
		os.Exit(0)
	}
}

// reap collects every exited child; signals coalesce, so one SIGCHLD may stand
// for several.
func reap() {
	for {
		var status syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
		if err == syscall.EINTR {
			continue
		}
		if pid <= 0 || err != nil {
			return
		}
	}
}
