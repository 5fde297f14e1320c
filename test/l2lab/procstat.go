package l2lab

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// speakerProcFile reads /proc/PID/name of every running speaker, by node.
func (c *Cluster) speakerProcFile(name string) map[string][]byte {
	out := map[string][]byte{}
	for _, n := range c.Nodes {
		p := c.Speaker(n)
		if p == nil || !p.Running() {
			continue
		}
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", p.Cmd.Process.Pid, name)); err == nil {
			out[n] = b
		}
	}
	return out
}

// SpeakerCPU returns the CPU time (user and system) every running speaker
// has used so far, by node.
func (c *Cluster) SpeakerCPU() map[string]time.Duration {
	out := map[string]time.Duration{}
	for n, b := range c.speakerProcFile("stat") {
		// Fields after the command's closing parenthesis: utime and stime
		// are the 12th and 13th, in clock ticks (100 per second on Linux).
		rest := string(b[strings.LastIndexByte(string(b), ')')+2:])
		f := strings.Fields(rest)
		if len(f) < 13 {
			continue
		}
		utime, _ := strconv.ParseInt(f[11], 10, 64)
		stime, _ := strconv.ParseInt(f[12], 10, 64)
		out[n] = time.Duration(utime+stime) * 10 * time.Millisecond
	}
	return out
}

// SpeakerRSS returns the resident memory of every running speaker, by node.
func (c *Cluster) SpeakerRSS() map[string]int64 {
	out := map[string]int64{}
	for n, b := range c.speakerProcFile("status") {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				out[n] = kb * 1024
			}
		}
	}
	return out
}

// SpeakerCounter sums, per speaker, the samples of the metric family name
// whose exposition line also contains every one of labels (`peer="x"`);
// nil without Options.Metrics. A speaker that does not answer is left out.
func (c *Cluster) SpeakerCounter(name string, labels ...string) map[string]int {
	out := map[string]int{}
	for _, n := range c.Nodes {
		url := c.MetricsURL(n)
		if url == "" {
			return nil
		}
		resp, err := http.Get(url)
		if err != nil {
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
	lines:
		for _, line := range strings.Split(string(body), "\n") {
			if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
				continue
			}
			for _, l := range labels {
				if !strings.Contains(line, l) {
					continue lines
				}
			}
			v, _ := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
			out[n] += int(v)
		}
	}
	return out
}

// DropInbound makes every node drop this share of the packets it receives
// (iptables' random statistic match), for the rest of the lab's life.
func (c *Cluster) DropInbound(loss float64) {
	c.t.Helper()
	for _, n := range c.Nodes {
		if out, err := c.Lab.Exec(c.Hosts[n], "iptables", "-A", "INPUT", "-m", "statistic", "--mode", "random",
			"--probability", fmt.Sprint(loss), "-j", "DROP"); err != nil {
			c.t.Fatalf("dropping packets into %s: %v: %s", n, err, out)
		}
	}
}
