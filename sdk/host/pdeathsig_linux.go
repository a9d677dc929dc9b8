package host

import (
	"os/exec"
	"syscall"
)

// setParentDeathSignal asks the kernel to kill the plugin when the host
// dies, even by SIGKILL. (The plugin also watches its parent; see serve.)
func setParentDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
