// Package e2e holds cubelet's end-to-end tests: the real binary, the real
// bbolt store on disk, real HTTP on loopback and the real Docker daemon with
// the locally built workload image. Its tests run one at a time, since every
// cubelet instance owns all managed containers on the host.
package e2e
