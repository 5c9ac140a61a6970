//go:build !unix

package externalbuilder

import "os/exec"

func setGroup(*exec.Cmd) {}

func killGroup(cmd *exec.Cmd) error {
	if cmd.Process == nil {
		return nil
	}
	return cmd.Process.Kill()
}

func terminateGroup(cmd *exec.Cmd) error { return killGroup(cmd) }
