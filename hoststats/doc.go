// Package hoststats reads the host's memory, CPU, load and disk figures
// from /proc and statfs(2), into structs whose JSON keys are those of
// github.com/c9s/goprocinfo/linux, the library Cube's worker reports with
// and Cube's manager decodes with. cubelet's GET /stats serves them so a
// Cube manager can schedule onto it. Units are goprocinfo's: kB for
// memory (as /proc/meminfo has them), bytes for disk, clock ticks for CPU.
//
// It reads and parses, nothing else: it must not know about tasks, HTTP
// or Docker, and keeps no state between reads.
package hoststats
