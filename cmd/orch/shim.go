package main

import "github.com/keeldb/keel/orchestrator/agent"

// runShim is the hidden `orch shim` command: the process runtime re-executes the agent's
// binary as the shim of each container it starts.
func runShim(args []string) int {
	return agent.RunShim(args)
}
