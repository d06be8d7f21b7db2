package cube

import (
	"fmt"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

// restartPolicyToV1 maps Docker's restart policy names, which Cube passes
// through, onto v1's. "unless-stopped" is "always" that a stop ends, and
// every stop of a cubelet task is declarative (desiredState Completed), so
// both are Always. "no" is Docker's spelling of "".
func restartPolicyToV1(p string) (v1.RestartPolicy, error) {
	switch p {
	case "", "no":
		return v1.RestartNever, nil
	case "always", "unless-stopped":
		return v1.RestartAlways, nil
	case "on-failure":
		return v1.RestartOnFailure, nil
	default:
		return "", fmt.Errorf("RestartPolicy %q is not supported (\"\", \"always\", \"unless-stopped\" or \"on-failure\")", p)
	}
}

// restartPolicyFromV1 is the inverse of restartPolicyToV1. given is the
// spelling Cube used, kept in an annotation; it wins while it still means
// the spec's policy, so "unless-stopped" round-trips.
func restartPolicyFromV1(p v1.RestartPolicy, given string) string {
	if given != "" {
		if q, err := restartPolicyToV1(given); err == nil && q == p {
			return given
		}
	}
	switch p {
	case v1.RestartAlways:
		return "always"
	case v1.RestartOnFailure:
		return "on-failure"
	default:
		return ""
	}
}

// canonicalRestartPolicy reports whether restartPolicyFromV1 gives p back
// without the help of an annotation.
func canonicalRestartPolicy(p string) bool {
	q, err := restartPolicyToV1(p)
	return err == nil && restartPolicyFromV1(q, "") == p
}
