package v1

import "testing"

// TestCanTransition_Table pins the whole transition table, the seed's rows
// and the three documented differences (docs/api.md): Pending and
// Scheduled may go to Completed (stopped before the container ran), and
// Pending may go to Failed (a lost node's job, ReasonNodeLost).
func TestCanTransition_Table(t *testing.T) {
	allowed := map[[2]State]bool{
		{Pending, Scheduled}: true, {Pending, Completed}: true, {Pending, Failed}: true,
		{Scheduled, Running}: true, {Scheduled, Completed}: true, {Scheduled, Failed}: true,
		{Running, Completed}: true, {Running, Failed}: true, {Running, Scheduled}: true,
		{Failed, Scheduled}: true,
	}
	for _, from := range States {
		for _, to := range States {
			want := from == to || allowed[[2]State{from, to}]
			if got := CanTransition(from, to); got != want {
				t.Errorf("CanTransition(%s, %s) = %v, want %v", from, to, got, want)
			}
			if err := CheckTransition(from, to); (err == nil) != want {
				t.Errorf("CheckTransition(%s, %s) = %v, want allowed=%v", from, to, err, want)
			}
		}
	}
}
