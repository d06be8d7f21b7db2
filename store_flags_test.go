package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/cubelet/cubelet/store"
)

func TestStoreFlags_EtcdOptions(t *testing.T) {
	hostname := func() (string, error) { return "Worker-3", nil }
	tests := []struct {
		name     string
		flags    storeFlags
		wantErr  string
		wantNode string
		wantTLS  bool
	}{
		{name: "node name defaults to the lower-cased hostname", flags: storeFlags{etcdEndpoints: []string{"http://10.0.0.1:2379"}}, wantNode: "worker-3"},
		{name: "node name given", flags: storeFlags{etcdEndpoints: []string{"http://a:2379", "http://b:2379"}, nodeName: "n1"}, wantNode: "n1"},
		{name: "https without client certificate uses TLS", flags: storeFlags{etcdEndpoints: []string{"https://a:2379"}}, wantNode: "worker-3", wantTLS: true},
		{name: "not a URL", flags: storeFlags{etcdEndpoints: []string{"10.0.0.1:2379"}}, wantErr: "not an http:// or https:// URL"},
		{name: "mixed schemes", flags: storeFlags{etcdEndpoints: []string{"http://a:2379", "https://b:2379"}}, wantErr: "mix of http:// and https://"},
		{name: "certificates over plain http", flags: storeFlags{etcdEndpoints: []string{"http://a:2379"}, etcdCA: "ca.pem"}, wantErr: "need https://"},
		{name: "cert without key", flags: storeFlags{etcdEndpoints: []string{"https://a:2379"}, etcdCert: "c.pem"}, wantErr: "go together"},
		{name: "missing CA file", flags: storeFlags{etcdEndpoints: []string{"https://a:2379"}, etcdCA: "/nonexistent/ca.pem"}, wantErr: "--etcd-ca"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts, err := tc.flags.etcdOptions(hostname)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if opts.NodeName != tc.wantNode || (opts.TLS != nil) != tc.wantTLS || len(opts.Endpoints) != len(tc.flags.etcdEndpoints) {
				t.Errorf("options %+v", opts)
			}
		})
	}
	if _, err := (&storeFlags{etcdEndpoints: []string{"http://a:2379"}}).etcdOptions(func() (string, error) { return "", errors.New("no name") }); err == nil {
		t.Error("no hostname and no --node-name: no error")
	}
}

// The etcd-only flags are refused on the embedded store rather than
// ignored: a --node-name that did nothing would be a silent surprise.
func TestStoreFlags_EtcdFlagsWithoutEndpoints_Refused(t *testing.T) {
	f := storeFlags{nodeName: "n1"}
	_, err := f.open(context.Background(), t.TempDir(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil || !strings.Contains(err.Error(), "need --etcd-endpoints") {
		t.Fatalf("err %v", err)
	}
}

func TestStoreFlags_NodeLabelsWithoutEndpoints_Refused(t *testing.T) {
	f := storeFlags{nodeLabels: map[string]string{"zone": "a"}}
	_, err := f.open(context.Background(), t.TempDir(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil || !strings.Contains(err.Error(), "--node-labels need --etcd-endpoints") {
		t.Fatalf("err %v", err)
	}
}

func TestStoreFlags_NodeGraceUnderASecond_Refused(t *testing.T) {
	var e *store.Etcd // the check comes before any use of the store
	for _, grace := range []time.Duration{0, -time.Second, 100 * time.Millisecond, 999 * time.Millisecond} {
		f := storeFlags{nodeGrace: grace}
		_, err := f.startCluster(context.Background(), e, nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err == nil || !strings.Contains(err.Error(), "--node-grace") {
			t.Errorf("--node-grace %s: err %v, want refused", grace, err)
		}
	}
}
