// Package shim exposes terraform-provider-random's plugin-framework provider,
// which lives in an internal package, to azora's bridged Pulumi provider.
package shim

import (
	fwprovider "github.com/hashicorp/terraform-plugin-framework/provider"
	randomprovider "github.com/terraform-providers/terraform-provider-random/internal/provider"
)

// NewProvider returns a fresh instance of the Terraform random provider.
func NewProvider() fwprovider.Provider {
	return randomprovider.New()
}
