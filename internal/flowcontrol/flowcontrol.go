package flowcontrol

import "google.golang.org/grpc"

// Window is the flow-control window of each stream and of each connection
// (shared by its streams): 4 MiB lets a large message (a block, a big state
// value or query page) flow without waiting for window updates, and bounds
// what a sender can run ahead of a reader that stops reading.
const Window = 4 << 20

// ServerOptions fixes a gRPC server's flow-control windows.
func ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.StaticStreamWindowSize(Window), grpc.StaticConnWindowSize(Window)}
}

// DialOptions fixes a gRPC client connection's flow-control windows.
func DialOptions() []grpc.DialOption {
	return []grpc.DialOption{grpc.WithStaticStreamWindowSize(Window), grpc.WithStaticConnWindowSize(Window)}
}
