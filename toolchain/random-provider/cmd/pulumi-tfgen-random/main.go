// Command pulumi-tfgen-random writes the Pulumi package schema and bridge
// metadata for the random provider (`pulumi-tfgen-random schema --out DIR`).
// azora's toolchain build runs it before compiling pulumi-resource-random.
package main

import (
	"github.com/pulumi/pulumi-terraform-bridge/pf/tfgen"

	"azora.local/toolchain/random-provider/info"
)

func main() {
	tfgen.Main("random", info.Provider())
}
