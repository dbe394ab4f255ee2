package sqlserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/linkmesh/linkmesh/internal/check"
)

// The statements of the MI → SQL Server Agent job test, in the order they
// run. Every value is a parameter: the job's name (@p1) and the PowerShell
// command (@p2), which is built from a parsed address and a port number.
const (
	jobCreate = `EXEC msdb.dbo.sp_add_job @job_name = @p1, @enabled = 1,
  @description = N'linkmesh check --mi-agent-test: MI -> SQL Server TCP test. Safe to delete.'`
	jobStep = `EXEC msdb.dbo.sp_add_jobstep @job_name = @p1, @step_name = N'tnc', @step_id = 1,
  @subsystem = N'PowerShell', @command = @p2, @database_name = N'master', @flags = 40`
	jobServer = `EXEC msdb.dbo.sp_add_jobserver @job_name = @p1, @server_name = N'(local)'`
	jobStart  = `EXEC msdb.dbo.sp_start_job @job_name = @p1`
	jobPoll   = `SELECT TOP (1) sja.stop_execution_date
FROM msdb.dbo.sysjobs AS sj
JOIN msdb.dbo.sysjobactivity AS sja ON sja.job_id = sj.job_id
WHERE sj.name = @p1
ORDER BY sja.start_execution_date DESC`
	jobLog = `SELECT sjsl.log, sjh.run_status, sjh.message
FROM msdb.dbo.sysjobs AS sj
JOIN msdb.dbo.sysjobsteps AS sjs ON sjs.job_id = sj.job_id
LEFT JOIN msdb.dbo.sysjobstepslogs AS sjsl ON sjsl.step_uid = sjs.step_uid
OUTER APPLY (SELECT TOP (1) h.run_status, h.message FROM msdb.dbo.sysjobhistory AS h
  WHERE h.job_id = sj.job_id AND h.step_id = 1 ORDER BY h.instance_id DESC) AS sjh
WHERE sj.name = @p1`
	jobStop   = `EXEC msdb.dbo.sp_stop_job @job_name = @p1`
	jobDelete = `IF EXISTS (SELECT 1 FROM msdb.dbo.sysjobs WHERE name = @p1)
  EXEC msdb.dbo.sp_delete_job @job_name = @p1, @delete_unused_schedule = 1`
)

// Bounds of the Agent job test.
const (
	// AgentTimeout is how long the job may run, as in Microsoft's
	// ExecuteNetHelper procedure.
	AgentTimeout = 90 * time.Second
	// agentPoll is how often the job's state is read.
	agentPoll = time.Second
	// cleanupTimeout bounds deleting the job, on every way out (Ctrl-C too).
	cleanupTimeout = 20 * time.Second
)

// AgentTest is the P3-MI test: a temporary SQL Agent job on the MI runs
// Microsoft's documented tnc test to the SQL Server host's endpoint, from
// inside the MI's subnet — the only place that proves the MI's NSG and route
// table in that direction.
type AgentTest struct {
	// Target is the SQL Server host as the MI reaches it; Port its
	// endpoint's port.
	Target netip.Addr
	Port   uint16
	// Timeout bounds the time waited for the job to finish, summed over the
	// polls (0: AgentTimeout); Poll is how often its state is read (0: a
	// second).
	Timeout, Poll time.Duration
	// Name is the job's name (empty: linkmesh-p3mi- and 8 random hex digits).
	Name string
	// Sleep waits between polls (nil: a timer on ctx); tests make it instant.
	Sleep func(ctx context.Context, d time.Duration) error
}

// agentRun is what the job found.
type agentRun struct {
	name     string
	log      string // the step's output (True or False)
	status   int64  // sysjobhistory run_status: 1 succeeded, 0 failed
	message  string // sysjobhistory message
	finished bool
	elapsed  time.Duration
	cleanup  error // deleting the job failed: it must be removed by hand
}

// command is the job step: Microsoft's tnc test, quiet (True or False).
func (a AgentTest) command() string {
	return fmt.Sprintf("tnc %s -port %d -InformationLevel Quiet", a.Target, a.Port)
}

func jobName() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "linkmesh-p3mi-" + hex.EncodeToString(b)
}

// run creates, starts, polls, reads and deletes the job. The job is deleted
// on every way out once its creation was attempted — a failed step, a job
// that does not finish in time, ctx cancelled (Ctrl-C) — with a context of
// its own, so cancelling the test does not cancel the clean-up.
func (a AgentTest) run(ctx context.Context, q Querier, perQuery time.Duration) (res agentRun, err error) {
	res.name = a.Name
	if res.name == "" {
		res.name = jobName()
	}
	if !a.Target.IsValid() || a.Port == 0 {
		return res, errors.New("no SQL Server address or port for the job")
	}
	timeout, poll, sleep := a.Timeout, a.Poll, a.Sleep
	if timeout <= 0 {
		timeout = AgentTimeout
	}
	if poll <= 0 {
		poll = agentPoll
	}
	if sleep == nil {
		sleep = sleepCtx
	}
	exec := func(ctx context.Context, stmt string, args ...any) (Table, error) {
		ctx, cancel := context.WithTimeout(ctx, perQuery)
		defer cancel()
		return q.Query(ctx, stmt, args...)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		if !res.finished {
			_, _ = exec(cctx, jobStop, res.name) // not running, or already stopped: nothing to do
		}
		if _, derr := exec(cctx, jobDelete, res.name); derr != nil {
			res.cleanup = derr
		}
	}()
	for _, st := range []struct {
		what string
		stmt string
		args []any
	}{
		{"create the job", jobCreate, []any{res.name}},
		{"add its step", jobStep, []any{res.name, a.command()}},
		{"assign it to the MI's Agent", jobServer, []any{res.name}},
		{"start it", jobStart, []any{res.name}},
	} {
		if _, err := exec(ctx, st.stmt, st.args...); err != nil {
			return res, fmt.Errorf("%s: %w", st.what, err)
		}
	}
	for {
		if err := sleep(ctx, poll); err != nil {
			return res, fmt.Errorf("interrupted while the job ran: %w", err)
		}
		res.elapsed += poll
		t, err := exec(ctx, jobPoll, res.name)
		if err != nil {
			return res, fmt.Errorf("read the job's state: %w", err)
		}
		if len(t.Rows) > 0 && !asTime(t.Get(0, "stop_execution_date")).IsZero() {
			res.finished = true
			break
		}
		if res.elapsed >= timeout {
			return res, fmt.Errorf("the job did not finish within %s", timeout)
		}
	}
	t, err := exec(ctx, jobLog, res.name)
	if err != nil {
		return res, fmt.Errorf("read the job's output: %w", err)
	}
	if len(t.Rows) == 0 {
		return res, errors.New("the job's output is not in msdb")
	}
	res.log = strings.TrimSpace(asString(t.Get(0, "log")))
	res.status, _ = asInt(t.Get(0, "run_status"))
	res.message = asString(t.Get(0, "message"))
	return res, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// AgentCheck is the P3-MI row: the MI's own subnet reaches the SQL Server
// host's endpoint. subnet is the MI's (for the fix), standIn says whether a
// stand-in answers on the port while the job runs.
func (x *Session) AgentCheck(a AgentTest, fix func() *check.Fix) check.Check {
	s := x.s
	return check.Check{ID: "P3-MI", What: fmt.Sprintf("MI → SQL Server host %s, TCP %d, from inside the MI's subnet (a SQL Agent job)", a.Target, a.Port), Required: true,
		Run: s.needsMI(func(ctx context.Context) check.Outcome {
			res, err := a.run(ctx, s.mi, s.opts.Timeout)
			return judgeAgent(res, err, a, fix)
		})}
}

// judgeAgent turns the job's run into the P3-MI row.
func judgeAgent(res agentRun, err error, a AgentTest, fix func() *check.Fix) check.Outcome {
	var o check.Outcome
	switch {
	case err != nil:
		o = check.Outcome{Status: check.Skip, Measured: "not run",
			Reason: "not tested: the SQL Agent job on the MI could not run the test: " + oneLine(err)}
		if strings.Contains(err.Error(), "permission") || strings.Contains(err.Error(), "EXECUTE") {
			o.Fix = &check.Fix{For: check.ForDBA, Summary: "The login on the MI may not create and run Agent jobs.",
				Steps: []check.Step{{Text: "Run with a login that is sysadmin on the MI, or a member of SQLAgentOperatorRole in msdb:",
					Command: "USE msdb;\nALTER ROLE SQLAgentOperatorRole ADD MEMBER [<user>];", Shell: check.ShellTSQL}}}
		}
	case tncSaid(res.log) == "True":
		o = check.Outcome{Status: check.Pass, Result: "ok", Measured: fmt.Sprintf("TcpTestSucceeded True (job ran %s)", res.elapsed.Round(time.Second)),
			Reason: fmt.Sprintf("the MI's own subnet completed a TCP connection to %s:%d: its NSG and route table let the link's MI → SQL Server direction through", a.Target, a.Port)}
	case tncSaid(res.log) == "False":
		o = check.Outcome{Status: check.Fail, Measured: fmt.Sprintf("TcpTestSucceeded False (job ran %s)", res.elapsed.Round(time.Second)),
			Reason: fmt.Sprintf("from inside the MI's subnet, no TCP connection to %s:%d (tnc does not say whether it was refused or dropped): the MI subnet's outbound rules, a route, an on-premises firewall or the SQL Server host's firewall stops it", a.Target, a.Port),
			Fix:    fix()}
	default:
		o = check.Outcome{Status: check.Skip, Measured: "no result",
			Reason: fmt.Sprintf("not tested: the job ran but did not print True or False (run status %d): %s", res.status, firstNonEmpty(res.message, res.log, "no output"))}
	}
	if res.cleanup != nil {
		o.Reason += fmt.Sprintf("; linkmesh could not delete the Agent job %s on the MI (%s): delete it by hand with EXEC msdb.dbo.sp_delete_job @job_name = N'%s';", res.name, oneLine(res.cleanup), res.name)
		if o.Status == check.Pass {
			o.Status = check.Warn
		}
	}
	return o
}

// tncSaid is what tnc answered in the job's output: "True" or "False" as
// its last such line (with -InformationLevel Quiet it prints only that, after
// any WARNING lines), or a "TcpTestSucceeded : …" line; "" when neither.
func tncSaid(log string) string {
	lines := strings.Split(strings.ReplaceAll(log, "\r", ""), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(strings.TrimSpace(k), "TcpTestSucceeded") {
			l = strings.TrimSpace(v)
		}
		switch {
		case strings.EqualFold(l, "True"):
			return "True"
		case strings.EqualFold(l, "False"):
			return "False"
		}
	}
	return ""
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if strings.TrimSpace(x) != "" {
			return oneLine(errors.New(x))
		}
	}
	return ""
}
