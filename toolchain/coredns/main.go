// Command coredns is CoreDNS built with only the plugins the embedded cluster's
// DNS needs, run by the cluster as a host process rather than a pod.
//
// This is CoreDNS's documented way to build with fewer plugins without editing its
// plugin.cfg ("Compile Time Enabling or Disabling Plugins", coredns.io, 2017-07-25):
// a main package that imports coremain, the server and the chosen plugins, and sets
// dnsserver.Directives to them in chain order (the order of upstream plugin.cfg;
// azora.toolchain.catalog.COREDNS_PLUGINS lists the same names, a unit test checks).
//
// The kubernetes plugin imports metadata and transfer, and cache imports metrics
// ("prometheus"), so `coredns -plugins` lists those three as well; they are not
// directives here, so a Corefile cannot use them. There is no forward, reload or
// loop, and no whoami: start it with -conf, as the cluster does.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
)

// directives are the enabled plugins in the order a query passes through them.
var directives = []string{
	"bind",
	"ready",
	"health",
	"errors",
	"log",
	"loadbalance",
	"cache",
	"kubernetes",
}

func init() {
	dnsserver.Directives = directives
}

func main() {
	coremain.Run()
}
