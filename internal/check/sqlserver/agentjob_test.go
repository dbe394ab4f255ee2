package sqlserver

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/internal/check"
)

// jobDriver plays the MI's msdb for the Agent job test: it records every
// statement with its arguments, keeps the job's existence as msdb would, and
// fails the statement failAt (1-based; 0: none) or, with cancelAt, cancels
// the test's context when that statement runs (Ctrl-C).
type jobDriver struct {
	calls    []string
	args     [][]any
	exists   bool
	failAt   int
	cancelAt int
	cancel   context.CancelFunc
	pollsTo  int    // polls before the job reads finished
	log      string // the step's output
	ctxErrs  []error
}

func (d *jobDriver) Ping(context.Context) error { return nil }

func (d *jobDriver) Query(ctx context.Context, stmt string, args ...any) (Table, error) {
	d.calls = append(d.calls, stmt)
	d.args = append(d.args, args)
	d.ctxErrs = append(d.ctxErrs, ctx.Err())
	n := len(d.calls)
	if ctx.Err() != nil {
		return Table{}, ctx.Err()
	}
	if n == d.cancelAt {
		d.cancel()
	}
	if n == d.failAt {
		if stmt == jobCreate {
			d.exists = true // created, then the batch failed: msdb holds it
		}
		return Table{}, fmt.Errorf("mssql: statement %d failed", n)
	}
	switch stmt {
	case jobCreate:
		d.exists = true
	case jobDelete:
		d.exists = false
	case jobPoll:
		d.pollsTo--
		var stop any
		if d.pollsTo <= 0 {
			stop = now
		}
		return Table{Columns: []string{"stop_execution_date"}, Rows: [][]any{{stop}}}, nil
	case jobLog:
		return Table{Columns: []string{"log", "run_status", "message"}, Rows: [][]any{{d.log + "\r\n", int64(1), "Executed as user: ...  The step succeeded."}}}, nil
	}
	return Table{}, nil
}

var instant = func(ctx context.Context, _ time.Duration) error { return ctx.Err() }

func agentTest() AgentTest {
	return AgentTest{Target: netip.MustParseAddr("10.20.0.4"), Port: 5022, Name: "linkmesh-p3mi-test", Sleep: instant}
}

// TestAgentJobSequence: create, step, server, start, poll until finished,
// read the log, delete — each a statement of its own with the job's name as
// a parameter, never in the text.
func TestAgentJobSequence(t *testing.T) {
	d := &jobDriver{pollsTo: 3, log: "True"}
	res, err := agentTest().run(t.Context(), d, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{jobCreate, jobStep, jobServer, jobStart, jobPoll, jobPoll, jobPoll, jobLog, jobDelete}
	if fmt.Sprint(d.calls) != fmt.Sprint(want) {
		t.Fatalf("statements:\n%q\nwant\n%q", d.calls, want)
	}
	for i, stmt := range d.calls {
		if strings.Contains(stmt, "linkmesh-p3mi-test") || strings.Contains(stmt, "10.20.0.4") {
			t.Errorf("statement %d carries input in its text: %s", i, stmt)
		}
		if len(d.args[i]) == 0 || d.args[i][0] != "linkmesh-p3mi-test" {
			t.Errorf("statement %d args %v: want the job's name first", i, d.args[i])
		}
	}
	if got := d.args[1][1]; got != "tnc 10.20.0.4 -port 5022 -InformationLevel Quiet" {
		t.Errorf("job step command %q", got)
	}
	if d.exists || res.cleanup != nil || !res.finished || res.log != "True" || res.elapsed != 3*time.Second {
		t.Errorf("after the run: exists %v, %+v", d.exists, res)
	}
}

// TestAgentJobAlwaysDeleted: whichever statement fails, and when the test is
// interrupted at any statement, the job is deleted — with a context that is
// not cancelled — and the error says which step failed.
func TestAgentJobAlwaysDeleted(t *testing.T) {
	steps := []string{"create the job", "add its step", "assign it to the MI's Agent", "start it", "read the job's state", "read the job's output"}
	for i, step := range steps {
		for _, mode := range []string{"fails", "interrupted"} {
			t.Run(fmt.Sprintf("%s %s", step, mode), func(t *testing.T) {
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				d := &jobDriver{pollsTo: 1, log: "True", cancel: cancel}
				if mode == "fails" {
					d.failAt = i + 1
				} else {
					d.cancelAt = i + 1
				}
				res, err := agentTest().run(ctx, d, time.Second)
				last := d.calls[len(d.calls)-1]
				if last != jobDelete {
					t.Fatalf("last statement %q, want the delete; statements %q", last, d.calls)
				}
				if d.ctxErrs[len(d.ctxErrs)-1] != nil {
					t.Error("the delete ran with a cancelled context")
				}
				if d.exists || res.cleanup != nil {
					t.Errorf("job left behind: exists %v, cleanup %v", d.exists, res.cleanup)
				}
				switch {
				case mode == "fails" && (err == nil || !strings.Contains(err.Error(), step)):
					t.Errorf("error %v, want it to name %q", err, step)
				case mode == "interrupted" && i < len(steps)-1 && err == nil:
					t.Errorf("interrupted at %q: no error", step)
				}
				if !res.finished && (len(d.calls) < 2 || d.calls[len(d.calls)-2] != jobStop) {
					t.Errorf("an unfinished job was not stopped before the delete: %q", d.calls)
				}
			})
		}
	}
}

// TestAgentJobTimeout: a job that never finishes is given up after the
// bound, stopped and deleted, and the row reads not tested — never a pass.
func TestAgentJobTimeout(t *testing.T) {
	d := &jobDriver{pollsTo: 1 << 30}
	a := agentTest()
	a.Timeout = 5 * time.Second
	res, err := a.run(t.Context(), d, time.Second)
	if err == nil || !strings.Contains(err.Error(), "did not finish within 5s") {
		t.Fatalf("err %v", err)
	}
	if polls := strings.Count(strings.Join(d.calls, "\x00"), jobPoll); polls != 5 {
		t.Errorf("%d polls, want 5", polls)
	}
	if d.calls[len(d.calls)-2] != jobStop || d.exists {
		t.Errorf("statements %q, exists %v", d.calls, d.exists)
	}
	if o := judgeAgent(res, err, a, nil); o.Status != check.Skip || !strings.Contains(o.Reason, "not tested") {
		t.Errorf("row %+v", o)
	}
}

// TestJudgeAgent: True passes, False fails with the P3 fix, anything else is
// not tested; a job that could not be deleted says how to delete it.
func TestJudgeAgent(t *testing.T) {
	a := agentTest()
	fix := func() *check.Fix { return &check.Fix{For: check.ForNetwork, Summary: "open it"} }
	tests := []struct {
		name   string
		res    agentRun
		err    error
		status check.Status
		reason string
	}{
		{"true", agentRun{log: "True", finished: true}, nil, check.Pass, "NSG and route table"},
		{"false", agentRun{log: "False", finished: true}, nil, check.Fail, "tnc does not say whether it was refused or dropped"},
		{"false after a warning", agentRun{log: "WARNING: TCP connect to (10.20.0.4 : 5022) failed\r\nFalse\r\n", finished: true}, nil, check.Fail, "no TCP connection"},
		{"long form", agentRun{log: "ComputerName : 10.20.0.4\r\nRemoteAddress : 10.20.0.4\r\nTcpTestSucceeded : True\r\n", finished: true}, nil, check.Pass, "NSG and route table"},
		{"powershell missing", agentRun{log: "", status: 0, message: "The PowerShell subsystem failed to load", finished: true}, nil, check.Skip, "PowerShell subsystem"},
		{"no permission", agentRun{}, errors.New("create the job: EXECUTE permission was denied on sp_add_job"), check.Skip, "not tested"},
		{"left behind", agentRun{name: "linkmesh-p3mi-1", log: "True", cleanup: errors.New("connection reset")}, nil, check.Warn, "EXEC msdb.dbo.sp_delete_job @job_name = N'linkmesh-p3mi-1';"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := judgeAgent(tt.res, tt.err, a, fix)
			if o.Status != tt.status || !strings.Contains(o.Reason, tt.reason) {
				t.Fatalf("%s %q, want %s %q", o.Status, o.Reason, tt.status, tt.reason)
			}
			if o.Status == check.Fail && o.Fix == nil {
				t.Error("a failure without a fix")
			}
		})
	}
	if o := judgeAgent(agentRun{}, errors.New("create the job: EXECUTE permission was denied"), a, fix); o.Fix == nil || !strings.Contains(fmt.Sprint(o.Fix.Steps), "SQLAgentOperatorRole") {
		t.Errorf("permission denied: fix %+v", o.Fix)
	}
}
