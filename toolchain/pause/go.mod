// azora's pause: the first process of every pod sandbox (see main.go). Standard
// library only, so there is no go.sum.
module azora.local/toolchain/pause

go 1.25.11
