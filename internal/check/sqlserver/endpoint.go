package sqlserver

import (
	"context"
	"fmt"
	"strings"

	"github.com/linkmesh/linkmesh/internal/check"
)

// queryEndpoint reads the database mirroring endpoint (an instance has at most
// one) with its TCP port.
const queryEndpoint = `SELECT e.name, e.state_desc, e.role_desc, e.connection_auth_desc,
  e.is_encryption_enabled, e.encryption_algorithm_desc, t.port
FROM sys.database_mirroring_endpoints AS e
JOIN sys.tcp_endpoints AS t ON t.endpoint_id = e.endpoint_id`

// endpoint is the sql.endpoint row: the mirroring endpoint exists, is STARTED,
// authenticates with a certificate, encrypts with AES, and listens on the
// expected port.
func (s *session) endpoint(ctx context.Context) check.Outcome {
	t, err := s.query(ctx, queryEndpoint)
	if err != nil {
		return check.Outcome{Status: check.Fail, Measured: "unknown", Reason: "cannot read sys.database_mirroring_endpoints: " + oneLine(err),
			Fix: &check.Fix{For: check.ForDBA, Summary: "The login cannot read the endpoint's definition.",
				Steps: []check.Step{{Text: "Grant the login VIEW DEFINITION on the endpoint or VIEW ANY DEFINITION, or run the check as sysadmin:", Command: "GRANT VIEW ANY DEFINITION TO [<login>];", Shell: check.ShellTSQL}}}}
	}
	return judgeEndpoint(t, s.opts.EndpointPort)
}

// judgeEndpoint turns the endpoint query's result into the sql.endpoint row.
func judgeEndpoint(t Table, port uint16) check.Outcome {
	if len(t.Rows) == 0 {
		return check.Outcome{Status: check.Fail, Measured: "none",
			Reason: "SQL Server has no DATABASE_MIRRORING endpoint: the link needs one",
			Fix:    &check.Fix{For: check.ForDBA, Summary: "Create the database mirroring endpoint the link uses.", Steps: []check.Step{check.CreateEndpointStep(port)}}}
	}
	name := asString(t.Get(0, "name"))
	state := asString(t.Get(0, "state_desc"))
	role := asString(t.Get(0, "role_desc"))
	auth := asString(t.Get(0, "connection_auth_desc"))
	alg := asString(t.Get(0, "encryption_algorithm_desc"))
	enc, _ := asInt(t.Get(0, "is_encryption_enabled"))
	got, _ := asInt(t.Get(0, "port"))
	o := check.Outcome{Measured: fmt.Sprintf("%s: %s, %s, %s, port %d", name, state, auth, alg, got)}
	q := quoteName(name)

	var problems []string
	var steps []check.Step
	if state != "STARTED" {
		problems = append(problems, "it is "+state)
		steps = append(steps, check.Step{Text: "Start the endpoint:", Command: fmt.Sprintf("ALTER ENDPOINT %s STATE = STARTED;", q), Shell: check.ShellTSQL})
	}
	if role == "WITNESS" {
		problems = append(problems, "its role is WITNESS")
		steps = append(steps, check.Step{Text: "Let the endpoint act as a replica:", Command: fmt.Sprintf("ALTER ENDPOINT %s FOR DATABASE_MIRRORING (ROLE = ALL);", q), Shell: check.ShellTSQL})
	}
	if !strings.Contains(auth, "CERTIFICATE") {
		problems = append(problems, "it does not authenticate with a certificate")
		steps = append(steps, check.Step{Text: "Add certificate authentication (keeping Windows authentication for existing availability groups), with the certificate the link uses:",
			Command: fmt.Sprintf("ALTER ENDPOINT %s FOR DATABASE_MIRRORING (AUTHENTICATION = WINDOWS NEGOTIATE CERTIFICATE <certificate-name>);", q), Shell: check.ShellTSQL})
	}
	if enc != 1 || !strings.Contains(alg, "AES") {
		problems = append(problems, "it does not encrypt with AES")
		steps = append(steps, check.Step{Text: "Require AES encryption:",
			Command: fmt.Sprintf("ALTER ENDPOINT %s FOR DATABASE_MIRRORING (ENCRYPTION = REQUIRED ALGORITHM AES);", q), Shell: check.ShellTSQL})
	}
	if got != int64(port) {
		problems = append(problems, fmt.Sprintf("it listens on %d, not %d", got, port))
		steps = append(steps, check.Step{Text: fmt.Sprintf("Either keep port %d: run linkmesh check with --sql-endpoint 127.0.0.1:%d and open that port instead of %d in the firewalls and the link's configuration; or move the endpoint:", got, got, port),
			Command: fmt.Sprintf("ALTER ENDPOINT %s AS TCP (LISTENER_PORT = %d);", q, port), Shell: check.ShellTSQL})
	}
	if len(problems) == 0 {
		o.Status, o.Reason = check.Pass, "the endpoint is started, authenticates with a certificate and encrypts with AES on the expected port"
		return o
	}
	o.Status = check.Fail
	o.Reason = fmt.Sprintf("endpoint %s: %s", name, strings.Join(problems, "; "))
	o.Fix = &check.Fix{For: check.ForDBA, Summary: fmt.Sprintf("Change the database mirroring endpoint %s so the link can use it.", name), Steps: steps}
	return o
}
