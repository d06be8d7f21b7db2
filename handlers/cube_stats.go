package handlers

import (
	"fmt"
	"net/http"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/cubelet/cubelet/apis/cube"
	"github.com/cubelet/cubelet/hoststats"
)

// stats answers GET /stats in Cube's Stats shape. A figure that cannot be
// read is sent as zeros rather than null, as Cube's worker does: the
// manager's scheduler dereferences all four.
func (a *cubeAPI) stats(w http.ResponseWriter, r *http.Request) {
	list, err := a.store.List(r.Context(), labels.Everything())
	if err != nil {
		writeCubeError(w, a.logger, fmt.Errorf("counting tasks: %w", err))
		return
	}
	host, err := a.hostStats()
	if err != nil {
		a.logger.Warn("reading host stats for GET /stats", "error", err)
	}
	if host.MemStats == nil {
		host.MemStats = &hoststats.MemInfo{}
	}
	if host.DiskStats == nil {
		host.DiskStats = &hoststats.Disk{}
	}
	if host.CpuStats == nil {
		host.CpuStats = &hoststats.CPUStat{}
	}
	if host.LoadStats == nil {
		host.LoadStats = &hoststats.LoadAvg{}
	}
	writeCubeJSON(w, http.StatusOK, cube.NewStats(host, len(list.Items)))
}
