package harness

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Memory is what the kernel reports of a running process's memory.
type Memory struct {
	// RSS is the resident set now, Peak the highest it has been (VmHWM).
	RSS, Peak int64
}

// Memory reads /proc/PID/status of the webhook process.
func (w *Webhook) Memory() (Memory, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", w.Pid()))
	if err != nil {
		return Memory{}, err
	}
	defer f.Close()
	var m Memory
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		switch name {
		case "VmRSS":
			m.RSS = kb << 10
		case "VmHWM":
			m.Peak = kb << 10
		default:
			continue
		}
		if err != nil {
			return Memory{}, fmt.Errorf("%s: %w", name, err)
		}
	}
	return m, sc.Err()
}

// CPUTime is the user plus system CPU time the webhook process has used.
func (w *Webhook) CPUTime() (time.Duration, error) { return ProcCPU(w.Pid()) }

// ProcCPU is the user plus system CPU time process pid has used, from
// /proc/PID/stat (fields 14 and 15, in clock ticks of 1/100 s on Linux).
func ProcCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; fields count from after it.
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0, fmt.Errorf("short /proc stat: %q", s)
	}
	var ticks int64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, err
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}
