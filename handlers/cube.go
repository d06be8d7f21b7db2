package handlers

import "github.com/gorilla/mux"

// registerCube adds the Cube worker API (placeholder until issue 3 lands).
func registerCube(r *mux.Router, cfg Config) {}
