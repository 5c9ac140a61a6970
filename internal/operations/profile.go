package operations

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
)

// ServeProfile serves Go's pprof handlers (/debug/pprof) on addr until the
// returned function is called; key names the setting addr came from
// (peer.profile.listenAddress, General.Profile.Address) in errors.
func ServeProfile(addr, key string, log *slog.Logger) (stop func(), err error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s %s: %w", key, addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux}
	go func() {
		if err := srv.Serve(lis); err != nil && err != http.ErrServerClosed {
			log.Error("profile server stopped", "err", err)
		}
	}()
	log.Info("serving pprof", "address", addr)
	return func() { srv.Close() }, nil
}
