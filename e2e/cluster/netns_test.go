package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// Network namespaces, veths and firewall rules of one test network.

const subnetPrefix = "10.77." // each network takes 10.77.X.0/24

var netSeq atomic.Int64

// runCmd runs a command and returns its combined output in the error.
func runCmd(name string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

func output(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).Output()
	if err != nil {
		return "", fmt.Errorf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return string(out), nil
}

// checkNetns tells whether this process can create network namespaces, veths
// and bridges and run iptables inside them.
func checkNetns() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("the test runs as uid %d, not root", os.Geteuid())
	}
	var missing []string
	for _, tool := range []string{"ip", "iptables", "iptables-restore"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("commands not found in PATH: %s", strings.Join(missing, ", "))
	}
	probe := fmt.Sprintf("wft%d-probe", os.Getpid())
	if err := runCmd("ip", "netns", "add", probe); err != nil {
		return fmt.Errorf("cannot create a network namespace: %w", err)
	}
	defer runCmd("ip", "netns", "del", probe)
	if err := runCmd("ip", "netns", "exec", probe, "ip", "link", "add", "wftbr", "type", "bridge"); err != nil {
		return fmt.Errorf("cannot create a bridge (kernel module bridge): %w", err)
	}
	if err := runCmd("ip", "netns", "exec", probe, "iptables", "-w", "-L", "-n"); err != nil {
		return fmt.Errorf("cannot run iptables in a network namespace: %w", err)
	}
	return nil
}

var staleName = regexp.MustCompile(`^wft(\d+)-`)

// stale reports whether a namespace or link name belongs to a test process
// that no longer runs (or to an earlier process with this process's id).
func stale(name string) bool {
	m := staleName.FindStringSubmatch(name)
	if m == nil {
		return false
	}
	pid, _ := strconv.Atoi(m[1])
	if pid == os.Getpid() {
		return true
	}
	// Gone, a zombie nobody reaped yet, or the id now belongs to another program.
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	if i := bytes.LastIndexByte(stat, ')'); i > 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
		return true
	}
	comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	own, _ := os.ReadFile("/proc/self/comm")
	c := strings.TrimSpace(string(comm))
	return c != strings.TrimSpace(string(own)) && !strings.HasSuffix(c, ".test")
}

// removeStale removes namespaces and root veths left by crashed test runs,
// killing the orderers still running inside them.
func removeStale() {
	if out, err := output("ip", "-o", "link", "show"); err == nil {
		for _, line := range strings.Split(out, "\n") {
			f := strings.Fields(line)
			if len(f) < 2 {
				continue
			}
			name := strings.TrimSuffix(f[1], ":")
			if i := strings.IndexByte(name, '@'); i >= 0 {
				name = name[:i]
			}
			if stale(name) {
				fmt.Fprintln(os.Stderr, "removing stale link", name)
				runCmd("ip", "link", "del", name)
			}
		}
	}
	out, err := output("ip", "netns", "list")
	if err != nil {
		return
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !stale(f[0]) {
			continue
		}
		fmt.Fprintln(os.Stderr, "removing stale network namespace", f[0])
		killNamespace(f[0])
		runCmd("ip", "netns", "del", f[0])
	}
}

// killNamespace kills every process left inside namespace ns.
func killNamespace(ns string) {
	out, err := output("ip", "netns", "pids", ns)
	if err != nil {
		return
	}
	for _, f := range strings.Fields(out) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// fabric is the namespaces and links of one network: a switch namespace with
// a bridge, one namespace per node, and a veth into the root namespace.
type fabric struct {
	prefix  string // wft<pid>-<seq>
	subnet  string // 10.77.X.
	rootDev string
	nodes   []string // namespace of node i+1
	created []string // namespaces to delete
}

func (f *fabric) sw() string              { return f.prefix + "-sw" }
func (f *fabric) hostIP() string          { return f.subnet + "1" }
func (f *fabric) nodeIP(id uint64) string { return f.subnet + strconv.Itoa(10+int(id)) }
func (f *fabric) ns(id uint64) string     { return f.nodes[id-1] }

// newFabric creates the namespaces of n nodes. On error it removes what it made.
func newFabric(n int) (f *fabric, err error) {
	seq := netSeq.Add(1)
	f = &fabric{prefix: fmt.Sprintf("wft%d-%d", os.Getpid(), seq)}
	f.rootDev = f.prefix
	defer func() {
		if err != nil {
			f.destroy()
		}
	}()
	sw := f.sw()
	if err := f.addNS(sw); err != nil {
		return nil, err
	}
	steps := [][]string{
		{"ip", "netns", "exec", sw, "ip", "link", "add", "br0", "type", "bridge"},
		{"ip", "netns", "exec", sw, "ip", "link", "set", "lo", "up"},
		{"ip", "netns", "exec", sw, "ip", "link", "set", "br0", "up"},
	}
	for i := 1; i <= n; i++ {
		ns := fmt.Sprintf("%s-o%d", f.prefix, i)
		if err := f.addNS(ns); err != nil {
			return nil, err
		}
		f.nodes = append(f.nodes, ns)
		port := fmt.Sprintf("o%d", i)
		steps = append(steps,
			[]string{"ip", "link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", port, "netns", sw},
			[]string{"ip", "netns", "exec", sw, "ip", "link", "set", port, "master", "br0"},
			[]string{"ip", "netns", "exec", sw, "ip", "link", "set", port, "up"},
			[]string{"ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"},
		)
	}
	for _, s := range steps {
		if err := runCmd(s[0], s[1:]...); err != nil {
			return nil, err
		}
	}
	if err := f.uplink(); err != nil {
		return nil, err
	}
	for i := range f.nodes {
		id := uint64(i + 1)
		ns := f.ns(id)
		for _, s := range [][]string{
			{"ip", "netns", "exec", ns, "ip", "addr", "add", f.nodeIP(id) + "/24", "dev", "eth0"},
			{"ip", "netns", "exec", ns, "ip", "link", "set", "eth0", "up"},
		} {
			if err := runCmd(s[0], s[1:]...); err != nil {
				return nil, err
			}
		}
	}
	return f, nil
}

func (f *fabric) addNS(name string) error {
	if err := runCmd("ip", "netns", "add", name); err != nil {
		return err
	}
	f.created = append(f.created, name)
	return nil
}

// uplink picks a free 10.77.X.0/24 and connects the root namespace to the
// switch through a veth holding 10.77.X.1. A file lock keeps parallel test
// processes from picking the same subnet.
func (f *fabric) uplink() error {
	lock, err := os.OpenFile(os.TempDir()+"/weft-e2e-cluster.lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("lock %s: %w", lock.Name(), err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	addrs, err := output("ip", "-4", "-o", "addr", "show")
	if err != nil {
		return err
	}
	routes, err := output("ip", "-4", "route", "show", "table", "all")
	if err != nil {
		return err
	}
	used := " " + strings.ReplaceAll(addrs+"\n"+routes, "\n", " ")
	for x := 1; x < 255; x++ {
		subnet := fmt.Sprintf("%s%d.", subnetPrefix, x)
		if strings.Contains(used, " "+subnet) {
			continue
		}
		f.subnet = subnet
		for _, s := range [][]string{
			{"ip", "link", "add", f.rootDev, "type", "veth", "peer", "name", "uplink", "netns", f.sw()},
			{"ip", "netns", "exec", f.sw(), "ip", "link", "set", "uplink", "master", "br0"},
			{"ip", "netns", "exec", f.sw(), "ip", "link", "set", "uplink", "up"},
			{"ip", "addr", "add", f.hostIP() + "/24", "dev", f.rootDev},
			{"ip", "link", "set", f.rootDev, "up"},
		} {
			if err := runCmd(s[0], s[1:]...); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("no free /24 left in %s0.0/16 (remove stale wft* links: ip -o link show | grep wft)", subnetPrefix)
}

// destroy kills whatever still runs in the namespaces and removes the root
// veth (its peer goes with it) and every namespace. It reports every failure.
func (f *fabric) destroy() error {
	var errs []error
	if f.rootDev != "" {
		if _, err := output("ip", "link", "show", f.rootDev); err == nil {
			if err := runCmd("ip", "link", "del", f.rootDev); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for _, ns := range f.created {
		killNamespace(ns)
		if err := runCmd("ip", "netns", "del", ns); err != nil {
			errs = append(errs, err)
		}
	}
	f.created = nil
	return errors.Join(errs...)
}

// applyDrops sets each node's firewall to drop every packet from and to the
// nodes listed in drops[node] (an empty map heals everything).
func (f *fabric) applyDrops(drops map[uint64]map[uint64]bool) error {
	for i := range f.nodes {
		id := uint64(i + 1)
		var b strings.Builder
		b.WriteString("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n")
		for peer := range drops[id] {
			fmt.Fprintf(&b, "-A INPUT -s %s/32 -j DROP\n-A OUTPUT -d %s/32 -j DROP\n", f.nodeIP(peer), f.nodeIP(peer))
		}
		b.WriteString("COMMIT\n")
		cmd := exec.Command("ip", "netns", "exec", f.ns(id), "iptables-restore", "-w")
		cmd.Stdin = strings.NewReader(b.String())
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("iptables-restore in %s: %v: %s", f.ns(id), err, bytes.TrimSpace(out))
		}
	}
	return nil
}

// canReach reports whether a TCP connection from node from's namespace to
// addr opens within a second (bash's /dev/tcp; used by the harness test).
func (f *fabric) canReach(from uint64, addr string) bool {
	host, port, _ := strings.Cut(addr, ":")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", f.ns(from), "timeout", "1", "bash", "-c",
		fmt.Sprintf("exec 3<>/dev/tcp/%s/%s", host, port))
	return cmd.Run() == nil
}
