// Command pulumi-resource-random is the Pulumi resource plugin for the "random"
// package, bridged from terraform-provider-random.
package main

import (
	"context"
	_ "embed" // the generated schema is compiled in

	pftfbridge "github.com/pulumi/pulumi-terraform-bridge/pf/tfbridge"

	"azora.local/toolchain/random-provider/info"
)

// schema.json is produced by pulumi-tfgen-random during the toolchain build.
//
//go:embed schema.json
var schema []byte

func main() {
	pftfbridge.Main(context.Background(), "random", info.Provider(),
		pftfbridge.ProviderMetadata{PackageSchema: schema})
}
