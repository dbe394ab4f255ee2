//go:build linux

package netlab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	nfqueue "github.com/florianl/go-nfqueue/v2"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// delayerQueueLen bounds both the kernel's queue and the delayer's FIFO.
const delayerQueueLen = 16384

// lateRing is how many release latenesses a delayer keeps.
const lateRing = 4096

// delayer holds the packets an NFQUEUE rule hands it for a fixed delay, then
// accepts them in arrival order. The Delay fault that starts it owns it and
// ends it with stop.
type delayer struct {
	router *Host
	queue  uint16
	delay  time.Duration
	nf     *nfqueue.Nfqueue

	mu   sync.Mutex
	ring [delayerQueueLen]held // FIFO of packets awaiting their verdict
	head int
	n    int

	wake     chan struct{} // a packet arrived in an empty FIFO
	draining atomic.Bool   // release at once: the rule is gone
	quit     chan struct{} // closed by stop
	done     chan struct{} // closed when the releaser has ended

	// late holds how late (ns past due) each of the latest released packets
	// went, a ring of lateRing; guarded by mu.
	late  [lateRing]int64
	lateN int

	dropped       atomic.Uint64 // dropped here because the FIFO was full
	kernelDropped atomic.Uint64 // the kernel's count, read at stop
	stopOnce      sync.Once
	stopErr       error
}

type held struct {
	id  uint32
	due int64 // CLOCK_MONOTONIC nanoseconds
}

// startDelayer opens queue in the router's namespace (a netlink socket stays
// in the namespace it was created in) and starts releasing packets.
func startDelayer(router *Host, queue uint16, delay time.Duration) (*delayer, error) {
	d := &delayer{router: router, queue: queue, delay: delay,
		wake: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
	err := router.Do(func() (err error) {
		d.nf, err = nfqueue.Open(&nfqueue.Config{
			NfQueue:      queue,
			MaxQueueLen:  delayerQueueLen,
			Copymode:     nfqueue.NfQnlCopyMeta,
			AfFamily:     unix.AF_INET,
			WriteTimeout: time.Second,
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("open nfqueue %d in router: %w", queue, err)
	}
	if err := d.nf.SetOption(netlink.NoENOBUFS, true); err != nil {
		return nil, errors.Join(fmt.Errorf("nfqueue %d: set NoENOBUFS: %w", queue, err), d.nf.Close())
	}
	go d.release()
	// The library's receive goroutine ends when nf is closed (in stop).
	if err := d.nf.RegisterWithErrorFunc(context.Background(), d.onPacket, d.onError); err != nil {
		close(d.quit)
		<-d.done
		return nil, errors.Join(fmt.Errorf("bind nfqueue %d: %w", queue, err), d.nf.Close())
	}
	return d, nil
}

func monotonicNow() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

// onPacket runs on the library's receive goroutine for each queued packet.
func (d *delayer) onPacket(a nfqueue.Attribute) int {
	if a.PacketID == nil {
		return 0
	}
	h := held{id: *a.PacketID, due: monotonicNow() + int64(d.delay)}
	d.mu.Lock()
	if d.n == len(d.ring) {
		d.mu.Unlock()
		d.dropped.Add(1)
		_ = d.nf.SetVerdict(h.id, nfqueue.NfDrop)
		return 0
	}
	d.ring[(d.head+d.n)%len(d.ring)] = h
	d.n++
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
	return 0
}

// onError keeps receiving through transient errors and stops once the
// delayer stops or the socket is closed.
func (d *delayer) onError(err error) int {
	select {
	case <-d.quit:
		return 1
	default:
	}
	if errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrClosed) {
		return 1
	}
	return 0
}

func (d *delayer) peek() (held, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.n == 0 {
		return held{}, false
	}
	return d.ring[d.head], true
}

// release accepts each packet when it is due. It sleeps with clock_nanosleep
// on a thread with 1 ns timer slack: Go's timers round sub-millisecond waits
// up to ~1 ms. It ends when quit is closed, after releasing what it holds,
// and unlocks its thread (a thread that dies would SIGKILL the children it
// forked, through Pdeathsig).
func (d *delayer) release() {
	defer close(d.done)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	_ = unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0)
	defer func() { _ = unix.Prctl(unix.PR_SET_TIMERSLACK, 0, 0, 0, 0) }()
	for {
		h, ok := d.peek()
		if !ok {
			select {
			case <-d.wake:
				continue
			case <-d.quit:
				return
			}
		}
		quitting := false
		select {
		case <-d.quit:
			quitting = true
		default:
		}
		if now := monotonicNow(); !quitting && !d.draining.Load() && h.due > now {
			// Sleep at most 10 ms at a time to notice quit and draining.
			ts := unix.NsecToTimespec(min(h.due, now+int64(10*time.Millisecond)))
			_ = unix.ClockNanosleep(unix.CLOCK_MONOTONIC, unix.TIMER_ABSTIME, &ts, nil)
			continue
		}
		_ = d.nf.SetVerdict(h.id, nfqueue.NfAccept)
		d.popLate(max(monotonicNow()-h.due, 0))
	}
}

// popLate pops the released packet and records how late it went.
func (d *delayer) popLate(late int64) {
	d.mu.Lock()
	d.head = (d.head + 1) % len(d.ring)
	d.n--
	d.late[d.lateN%lateRing] = late
	d.lateN++
	d.mu.Unlock()
}

// lateness returns the release latenesses recorded (the latest lateRing).
func (d *delayer) lateness() []time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := min(d.lateN, lateRing)
	out := make([]time.Duration, n)
	for i := range n {
		out[i] = time.Duration(d.late[i])
	}
	return out
}

// stop ends the delayer once its rule is gone: it releases held packets at
// once, waits (bounded) until the kernel holds none for this queue, then ends
// the releaser and closes the socket.
func (d *delayer) stop() error {
	d.stopOnce.Do(func() {
		d.draining.Store(true)
		select {
		case d.wake <- struct{}{}:
		default:
		}
		var errs []error
		deadline := time.Now().Add(d.delay + 2*time.Second)
		tick := time.NewTicker(time.Millisecond)
		for {
			total, dropped, err := queueStats(d.router.pid, d.queue)
			if err != nil {
				errs = append(errs, err)
				break
			}
			d.kernelDropped.Store(dropped)
			if total == 0 {
				break
			}
			if time.Now().After(deadline) {
				errs = append(errs, fmt.Errorf("nfqueue %d: %d packets still queued at stop", d.queue, total))
				break
			}
			<-tick.C
		}
		tick.Stop()
		close(d.quit)
		<-d.done
		errs = append(errs, d.nf.Close())
		d.stopErr = errors.Join(errs...)
	})
	return d.stopErr
}

func (d *delayer) droppedCount() uint64 {
	select {
	case <-d.done:
	default:
		if _, dropped, err := queueStats(d.router.pid, d.queue); err == nil {
			d.kernelDropped.Store(dropped)
		}
	}
	return d.dropped.Load() + d.kernelDropped.Load()
}

// queueStats reads the kernel's count of packets waiting in queue and of
// those it dropped, from /proc/PID/net/netfilter/nfnetlink_queue of the
// router's namespace. A queue that is not listed holds nothing.
func queueStats(pid int, queue uint16) (total, dropped uint64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/net/netfilter/nfnetlink_queue", pid))
	if err != nil {
		return 0, 0, fmt.Errorf("read nfqueue stats: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// queue_num portid queue_total copy_mode copy_range queue_dropped user_dropped id_seq 1
		fields := strings.Fields(sc.Text())
		if len(fields) < 7 || fields[0] != strconv.Itoa(int(queue)) {
			continue
		}
		total, err1 := strconv.ParseUint(fields[2], 10, 64)
		qd, err2 := strconv.ParseUint(fields[5], 10, 64)
		ud, err3 := strconv.ParseUint(fields[6], 10, 64)
		if err := errors.Join(err1, err2, err3); err != nil {
			return 0, 0, fmt.Errorf("parse nfqueue stats %q: %w", sc.Text(), err)
		}
		return total, qd + ud, nil
	}
	return 0, 0, sc.Err()
}
