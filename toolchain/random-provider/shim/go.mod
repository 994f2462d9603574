// This module stands in for the unpublished local module that pulumi-random's
// provider reaches through `replace ... => ./shim`. Its path must sit under
// terraform-provider-random's import path: Go only lets packages below that
// path import the provider's `internal/provider` package.
module github.com/terraform-providers/terraform-provider-random/shim

go 1.22.7

require (
	github.com/hashicorp/terraform-plugin-framework v1.11.0
	github.com/terraform-providers/terraform-provider-random v1.3.2-0.20240911140632-e546ae44b440
)
