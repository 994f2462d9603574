// Package version holds the provider version. It is empty in source and set at
// link time (-ldflags -X) by azora's toolchain build, so the one version table in
// toolchain/pins.toml is the only place it is written down.
package version

// Version is the semver of this build, without a leading "v".
var Version string
