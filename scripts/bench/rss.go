package main

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// treeSampler samples the memory of the process trees under some root
// pids: every interval it sums VmRSS over the roots and all their
// descendants and keeps the largest sum; it also keeps each process's
// largest VmHWM, whose sum bounds the peak from above (the processes may
// have peaked at different times, and a peak between two samples is
// missed by the RSS sum but not by VmHWM).
type treeSampler struct {
	interval time.Duration

	mu      sync.Mutex
	roots   []int
	peakRSS int64          // bytes
	hwm     map[int]int64  // pid → largest VmHWM seen, bytes
	names   map[int]string // pid → comm, for the report
	samples int
	stop    chan struct{}
	done    chan struct{}
}

func newTreeSampler(interval time.Duration) *treeSampler {
	return &treeSampler{interval: interval, hwm: map[int]int64{}, names: map[int]string{}}
}

// add adds a root pid.
func (s *treeSampler) add(pid int) {
	s.mu.Lock()
	s.roots = append(s.roots, pid)
	s.mu.Unlock()
}

func (s *treeSampler) start() {
	s.stop, s.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(s.done)
		t := time.NewTicker(s.interval)
		defer t.Stop()
		for {
			s.sample()
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
}

// finish stops sampling and returns the peak of the summed VmRSS and the
// sum of the per-process VmHWM peaks, in bytes, and the processes seen.
func (s *treeSampler) finish() (peakRSS, sumHWM int64, procs []string) {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	for pid, h := range s.hwm {
		sumHWM += h
		procs = append(procs, s.names[pid]+"["+strconv.Itoa(pid)+"]")
	}
	return s.peakRSS, sumHWM, procs
}

func (s *treeSampler) sample() {
	s.mu.Lock()
	roots := append([]int(nil), s.roots...)
	s.mu.Unlock()
	if len(roots) == 0 {
		return
	}
	tree := descendants(roots)
	var sum int64
	for _, pid := range tree {
		rss, hwm, name, ok := memOf(pid)
		if !ok {
			continue
		}
		sum += rss
		s.mu.Lock()
		if hwm > s.hwm[pid] {
			s.hwm[pid] = hwm
			s.names[pid] = name
		}
		s.mu.Unlock()
	}
	s.mu.Lock()
	s.samples++
	if sum > s.peakRSS {
		s.peakRSS = sum
	}
	s.mu.Unlock()
}

// descendants returns roots and every process below them, from the
// parent pids in /proc/*/stat.
func descendants(roots []int) []int {
	children := map[int][]int{}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return roots
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces and parens.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		children[ppid] = append(children[ppid], pid)
	}
	var out []int
	seen := map[int]bool{}
	var walk func(int)
	walk = func(p int) {
		if seen[p] {
			return
		}
		seen[p] = true
		out = append(out, p)
		for _, c := range children[p] {
			walk(c)
		}
	}
	for _, r := range roots {
		walk(r)
	}
	return out
}

// memOf reads VmRSS and VmHWM (bytes) and the name of a process.
func memOf(pid int) (rss, hwm int64, name string, ok bool) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0, "", false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		k, v, found := strings.Cut(line, ":")
		if !found {
			continue
		}
		switch k {
		case "Name":
			name = strings.TrimSpace(v)
		case "VmRSS", "VmHWM":
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if k == "VmRSS" {
				rss = n << 10
			} else {
				hwm = n << 10
			}
		}
	}
	// Zombies and kernel threads have no VmRSS.
	return rss, hwm, name, rss > 0 || hwm > 0
}
