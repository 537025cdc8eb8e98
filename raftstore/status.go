package raftstore

import "google.golang.org/grpc/status"

// statusMessage extracts the message of a gRPC status error.
func statusMessage(err error) (string, bool) {
	s, ok := status.FromError(err)
	if !ok {
		return "", false
	}
	return s.Message(), true
}
