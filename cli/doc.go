// Package cli is cubelet's kubectl-like client: the apply, get, describe,
// delete, logs and stop subcommands of the cubelet binary (and a
// cluster's cordon, uncordon and drain), and the small HTTP client they
// share.
//
// It talks to a cubelet server over HTTP only, through the v1 API documented
// in docs/api.md, so it can do exactly what any other client can. It must
// never import store/, controller/ or runtime/: the client side knows the
// wire types (apis/v1) and nothing of how the server keeps them.
package cli
