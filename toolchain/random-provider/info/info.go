// Package info describes how the Terraform random provider maps onto the Pulumi
// "random" package. Both the schema generator (pulumi-tfgen-random) and the
// provider plugin (pulumi-resource-random) build from this one description, so
// the schema they agree on cannot drift.
package info

import (
	"context"
	_ "embed" // bridge-metadata.json is compiled in
	"errors"

	pftfbridge "github.com/pulumi/pulumi-terraform-bridge/pf/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/terraform-providers/terraform-provider-random/shim"

	"azora.local/toolchain/random-provider/version"
)

// bridgeMetadata is written by the schema generator next to this file before the
// plugin is compiled; the committed copy is the empty seed the generator starts from.
//
//go:embed bridge-metadata.json
var bridgeMetadata []byte

const (
	pulumiPackage = "random"
	tfPrefix      = "random_"
	indexModule   = "index"
)

// Provider returns the bridge description of the random provider.
//
// Tokens follow the published Pulumi SDKs: Terraform's random_password becomes
// random:index/randomPassword:RandomPassword, and so on for every resource.
func Provider() tfbridge.ProviderInfo {
	prov := tfbridge.ProviderInfo{
		P:            pftfbridge.ShimProvider(shim.NewProvider()),
		Name:         pulumiPackage,
		Version:      version.Version,
		Description:  "Random values for Pulumi programs (built locally by azora from terraform-provider-random).",
		License:      "Apache-2.0",
		MetadataInfo: tfbridge.NewProviderMetadata(bridgeMetadata),
		Resources: map[string]*tfbridge.ResourceInfo{
			// random_bytes has no "id" attribute; the bridge needs an ID, and the
			// published SDK uses the base64 form of the bytes.
			"random_bytes": {ComputeID: idFromBase64},
		},
	}
	standard := tokens.MakeStandard(pulumiPackage)
	prov.MustComputeTokens(tokens.SingleModule(tfPrefix, indexModule,
		func(module, name string) (string, error) { return standard(module, "Random"+name) }))
	prov.MustApplyAutoAliases()
	return prov
}

// idFromBase64 derives a RandomBytes resource ID from its base64 output.
func idFromBase64(_ context.Context, state resource.PropertyMap) (resource.ID, error) {
	value, ok := state["base64"]
	if !ok {
		return "", errors.New("random_bytes state has no base64 property")
	}
	// The value is marked sensitive, so it arrives wrapped as a secret; IDs
	// cannot carry secret markers, so unwrap it.
	if value.IsSecret() {
		value = value.SecretValue().Element
	}
	if !value.IsString() {
		return "", errors.New("random_bytes base64 property is not a string")
	}
	return resource.ID(value.StringValue()), nil
}
