package flowcontrol

import "google.golang.org/grpc"

const (
	// StreamWindow is each stream's flow-control window.
	StreamWindow = 4 << 20
	// ConnWindow is each connection's flow-control window, shared by its streams.
	ConnWindow = 16 << 20
)

// ServerOptions fixes a gRPC server's flow-control windows.
func ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.StaticStreamWindowSize(StreamWindow), grpc.StaticConnWindowSize(ConnWindow)}
}

// DialOptions fixes a gRPC client connection's flow-control windows.
func DialOptions() []grpc.DialOption {
	return []grpc.DialOption{grpc.WithStaticStreamWindowSize(StreamWindow), grpc.WithStaticConnWindowSize(ConnWindow)}
}
