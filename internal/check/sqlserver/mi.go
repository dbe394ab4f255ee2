package sqlserver

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/x509"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/linkmesh/linkmesh/internal/check"
)

// queryMI reads who we are on the MI, and that it is one: EngineEdition 8 is
// Azure SQL Managed Instance.
const queryMI = `SELECT
  CAST(SERVERPROPERTY('EngineEdition') AS int) AS EngineEdition,
  CAST(SERVERPROPERTY('ServerName') AS nvarchar(256)) AS ServerName,
  SUSER_SNAME() AS LoginName,
  IS_SRVROLEMEMBER('sysadmin') AS IsSysadmin`

// queryMINode reads the MI's current primary node and HADR port, as the MI
// link's "test connection" guidance does: both change after a failover.
const queryMINode = `SELECT
  (SELECT TOP (1) CAST(value AS nvarchar(512)) FROM sys.dm_hadr_fabric_config_parameters WHERE parameter_name = N'DnsRecordName') AS DnsRecordName,
  (SELECT TOP (1) CAST(value AS nvarchar(512)) FROM sys.dm_hadr_fabric_config_parameters WHERE parameter_name = N'ClusterName') AS ClusterName,
  (SELECT TOP (1) CAST(value AS nvarchar(64)) FROM sys.dm_hadr_fabric_config_parameters WHERE parameter_name = N'HadrPort') AS HadrPort,
  (SELECT TOP (1) SUBSTRING(fr.replica_address, 0, CHARINDEX(N'\', fr.replica_address))
   FROM sys.dm_hadr_fabric_partitions AS fp
   JOIN sys.dm_hadr_fabric_replicas AS fr ON fp.partition_id = fr.partition_id
   JOIN sys.dm_hadr_fabric_nodes AS fn ON fr.node_name = fn.node_name
   WHERE fp.service_name LIKE N'%ManagedServer%' AND fr.replica_role = 2
     AND RIGHT(fp.service_name, CHARINDEX(N'/', REVERSE(fp.service_name)) - 1) =
       (SELECT TOP (1) CAST(value AS nvarchar(512)) FROM sys.dm_hadr_fabric_config_parameters
        WHERE section_name = N'SQL' AND parameter_name = N'InstanceName')) AS NodeName`

// queryMIEndpointCert reads the certificate the MI's link endpoint
// authenticates with (its public part, DER).
const queryMIEndpointCert = `EXEC sp_get_endpoint_certificate @endpoint_type = 4`

// queryTrusted reads the certificates the MI trusts for links (uploaded with
// az sql mi partner-cert create or New-AzSqlInstanceServerTrustCertificate).
const queryTrusted = `SELECT * FROM sys.server_trust_certificates`

// Node is where the MI's link endpoint is now: its name as DNS knows it, its
// primary node's FQDN and the node's HADR port.
type Node struct {
	DNSRecord, Host string
	Port            uint16
}

// miSide is the session's MI state: one login and one read of each result set.
type miSide struct {
	miOnce  sync.Once
	miErr   error
	miProps Table

	nodeOnce sync.Once
	node     Node
	nodeErr  error

	miCertOnce sync.Once
	miEndpoint certificate
	miCertErr  error
}

// miChecks are the MI rows: mi.login, mi.node, mi.trust.
func (s *session) miChecks() []check.Check {
	return []check.Check{
		{ID: "mi.login", What: "linkmesh logs in to the MI (--mi-dsn)", Required: true, Run: s.miLogin},
		{ID: "mi.node", What: "the MI's current node and HADR port (changes after a failover)", Required: true, Run: s.needsMI(s.miNode)},
		{ID: "mi.trust", What: "the MI trusts SQL Server's endpoint certificate", Required: true, Run: s.needsMI(s.miTrust)},
	}
}

// logInMI logs in to the MI and reads its properties, once.
func (s *session) logInMI(ctx context.Context) error {
	s.miOnce.Do(func() { s.miProps, s.miErr = loginAndRead(ctx, s.mi, s.opts.Timeout, queryMI, "MI") })
	return s.miErr
}

// needsMI runs f once the MI login worked, and skips the row when it did not.
func (s *session) needsMI(f func(context.Context) check.Outcome) func(context.Context) check.Outcome {
	return func(ctx context.Context) check.Outcome {
		if err := s.logInMI(ctx); err != nil {
			return check.Outcome{Status: check.Skip, Reason: "not checked: linkmesh could not log in to the MI (see mi.login)"}
		}
		if e, _ := asInt(s.miProps.Get(0, "EngineEdition")); e != 8 {
			return check.Outcome{Status: check.Skip, Reason: "not checked: --mi-dsn is not an Azure SQL Managed Instance (see mi.login)"}
		}
		return f(ctx)
	}
}

func (s *session) miQuery(ctx context.Context, query string) (Table, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	return s.mi.Query(ctx, query)
}

func (s *session) miLogin(ctx context.Context) check.Outcome {
	if err := s.logInMI(ctx); err != nil {
		return check.Outcome{Status: check.Fail, Measured: "no login", Reason: oneLine(err),
			Fix: &check.Fix{For: check.ForDBA, Summary: "linkmesh could not log in to the MI with --mi-dsn, so it could not read the MI's node, port and certificates.",
				Steps: []check.Step{
					{Text: "Give the MI's VNet-local FQDN and port 1433 (sqlserver://<login>@<mi-fqdn>:1433?database=master), from a host that can reach it; with Microsoft Entra ID, add fedauth=ActiveDirectoryDefault (or another fedauth method go-mssqldb reads)."},
					{Text: "The login needs VIEW SERVER STATE (the node and port) and VIEW ANY DEFINITION (the certificates):",
						Command: "GRANT VIEW SERVER STATE TO [<login>];\nGRANT VIEW ANY DEFINITION TO [<login>];", Shell: check.ShellTSQL},
				}}}
	}
	measured := fmt.Sprintf("%s as %s", asString(s.miProps.Get(0, "ServerName")), asString(s.miProps.Get(0, "LoginName")))
	if e, _ := asInt(s.miProps.Get(0, "EngineEdition")); e != 8 {
		return check.Outcome{Status: check.Fail, Measured: fmt.Sprintf("%s, EngineEdition %d", measured, e),
			Reason: "--mi-dsn reaches a server that is not an Azure SQL Managed Instance (EngineEdition 8)",
			Fix:    &check.Fix{For: check.ForDBA, Summary: "Point --mi-dsn at the MI the link goes to.", Steps: []check.Step{{Text: "Use the MI's VNet-local FQDN, the same as --mi."}}}}
	}
	return check.Outcome{Status: check.Pass, Measured: measured, Reason: "logged in to the MI"}
}

// readNode runs queryMINode once.
func (s *session) readNode(ctx context.Context) (Node, error) {
	s.nodeOnce.Do(func() {
		t, err := s.miQuery(ctx, queryMINode)
		if err != nil {
			s.nodeErr = fmt.Errorf("cannot read the MI's fabric views: %w", err)
			return
		}
		s.node, s.nodeErr = parseNode(t)
	})
	return s.node, s.nodeErr
}

// parseNode reads queryMINode's row. What the MI sends is checked like any
// input: the node must be a host name and the port a TCP port.
func parseNode(t Table) (Node, error) {
	if len(t.Rows) != 1 {
		return Node{}, fmt.Errorf("the MI's fabric views: %d rows, want 1", len(t.Rows))
	}
	n := Node{DNSRecord: asString(t.Get(0, "DnsRecordName"))}
	node, cluster := asString(t.Get(0, "NodeName")), asString(t.Get(0, "ClusterName"))
	if node == "" || cluster == "" {
		return Node{}, errors.New("the MI's fabric views name no primary node (NodeName or ClusterName is empty): the login may lack VIEW SERVER STATE")
	}
	n.Host = node + "." + cluster
	if !hostName(n.Host) {
		return Node{}, fmt.Errorf("the MI's node name %q is not a host name", n.Host)
	}
	p, err := strconv.ParseUint(strings.TrimSpace(asString(t.Get(0, "HadrPort"))), 10, 16)
	if err != nil || p == 0 {
		return Node{}, fmt.Errorf("the MI's HadrPort %q is not a TCP port", asString(t.Get(0, "HadrPort")))
	}
	n.Port = uint16(p)
	return n, nil
}

// hostName reports whether s is a DNS name of letters, digits, hyphens and
// dots, at most 253 characters.
func hostName(s string) bool {
	if s == "" || len(s) > 253 || strings.HasPrefix(s, ".") || strings.HasSuffix(s, ".") || strings.Contains(s, "..") {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}

// MINode is the MI's current node and HADR port, read with --mi-dsn (once):
// the P2-node row tests exactly that.
func (x *Session) MINode(ctx context.Context) (Node, error) {
	s := x.s
	if s.mi == nil {
		return Node{}, errors.New("no --mi-dsn")
	}
	if err := s.logInMI(ctx); err != nil {
		return Node{}, fmt.Errorf("could not log in to the MI (see mi.login): %w", err)
	}
	return s.readNode(ctx)
}

// miNode is the mi.node row: the node and port were read, and the MI is the
// one --mi names.
func (s *session) miNode(ctx context.Context) check.Outcome {
	n, err := s.readNode(ctx)
	if err != nil {
		return check.Outcome{Status: check.Fail, Measured: "unknown", Reason: oneLine(err),
			Fix: &check.Fix{For: check.ForDBA, Summary: "The login on the MI cannot read its fabric views.",
				Steps: []check.Step{{Text: "Grant it VIEW SERVER STATE:", Command: "GRANT VIEW SERVER STATE TO [<login>];", Shell: check.ShellTSQL}}}}
	}
	o := check.Outcome{Measured: fmt.Sprintf("%s:%d (MI %s)", n.Host, n.Port, n.DNSRecord)}
	if s.opts.MI != "" && n.DNSRecord != "" && !strings.EqualFold(n.DNSRecord, s.opts.MI) {
		o.Status = check.Fail
		o.Reason = fmt.Sprintf("--mi-dsn reaches MI %s, not %s (--mi): its node, port and certificates are another MI's", n.DNSRecord, s.opts.MI)
		o.Fix = &check.Fix{For: check.ForDBA, Summary: "Point --mi-dsn and --mi at the same MI.", Steps: []check.Step{{Text: "Use the MI's VNet-local FQDN in both."}}}
		return o
	}
	o.Status = check.Pass
	o.Reason = fmt.Sprintf("the MI's primary node listens for the link on %d now (P2-node tests it; it moves after a failover, which P2's sampled range covers)", n.Port)
	return o
}

// miEndpointCert reads the MI's endpoint certificate, once.
func (s *session) miEndpointCert(ctx context.Context) (certificate, error) {
	s.miCertOnce.Do(func() {
		if err := s.logInMI(ctx); err != nil {
			s.miCertErr = fmt.Errorf("could not log in to the MI (see mi.login): %w", err)
			return
		}
		t, err := s.miQuery(ctx, queryMIEndpointCert)
		if err != nil {
			s.miCertErr = fmt.Errorf("sp_get_endpoint_certificate on the MI: %w", err)
			return
		}
		s.miEndpoint, s.miCertErr = parseEndpointCert(t)
	})
	return s.miEndpoint, s.miCertErr
}

// parseEndpointCert reads sp_get_endpoint_certificate's answer: one row, the
// certificate in DER. Its thumbprint is what sys.certificates shows (SHA-1 of
// the DER).
func parseEndpointCert(t Table) (certificate, error) {
	if len(t.Rows) != 1 {
		return certificate{}, fmt.Errorf("sp_get_endpoint_certificate: %d rows, want 1", len(t.Rows))
	}
	der, _ := t.Get(0, "EndpointCertificatePublicKey").([]byte)
	if len(der) == 0 {
		return certificate{}, errors.New("sp_get_endpoint_certificate returned no certificate")
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return certificate{}, fmt.Errorf("sp_get_endpoint_certificate: not a certificate: %w", err)
	}
	sum := sha1.Sum(der)
	return certificate{name: c.Subject.CommonName, subject: c.Subject.String(), issuer: c.Issuer.String(),
		expiry: c.NotAfter, thumbprint: sum[:]}, nil
}

// miTrust is the mi.trust row: SQL Server's endpoint certificate is among the
// MI's server trust certificates.
func (s *session) miTrust(ctx context.Context) check.Outcome {
	if s.q == nil {
		return check.Outcome{Status: check.Skip, Reason: "not checked: give --sql-dsn too, so linkmesh knows SQL Server's endpoint certificate"}
	}
	if err := s.logIn(ctx); err != nil {
		return check.Outcome{Status: check.Skip, Reason: "not checked: linkmesh could not log in to SQL Server (see sql.login)"}
	}
	_, certs, err := s.readTrust(ctx)
	if err != nil {
		return check.Outcome{Status: check.Skip, Reason: "not checked: SQL Server's certificates could not be read (see sql.cert)"}
	}
	var own *certificate
	for i := range certs {
		if certs[i].endpoint {
			own = &certs[i]
		}
	}
	if own == nil {
		return check.Outcome{Status: check.Skip, Reason: "not checked: SQL Server's endpoint has no certificate (see sql.cert)"}
	}
	t, err := s.miQuery(ctx, queryTrusted)
	if err != nil {
		return check.Outcome{Status: check.Warn, Measured: "unknown", Reason: "cannot read the MI's sys.server_trust_certificates: " + oneLine(err),
			Fix: &check.Fix{For: check.ForDBA, Summary: "List the certificates the MI trusts in Azure instead, and look for SQL Server's.",
				Steps: []check.Step{{Text: "In Azure Cloud Shell:", Command: "az sql mi partner-cert list -g <resource-group> --instance-name <mi-name> -o table", Shell: check.ShellAzureCLI}}}}
	}
	return judgeTrusted(t, *own)
}

// judgeTrusted finds own among the MI's trusted certificates by thumbprint,
// or by the SHA-1 of a public blob column when the view has no thumbprint.
func judgeTrusted(t Table, own certificate) check.Outcome {
	upload := &check.Fix{For: check.ForDBA, Summary: fmt.Sprintf("Let the MI trust SQL Server's endpoint certificate %s.", own.name),
		Steps: []check.Step{uploadCertStep()}}
	col := ""
	for _, c := range t.Columns {
		if strings.EqualFold(c, "thumbprint") {
			col = c
		}
	}
	var names []string
	for i := range t.Rows {
		name := asString(t.Get(i, "name"))
		if name == "" {
			name = asString(t.Get(i, "certificate_name"))
		}
		names = append(names, name)
		var tp []byte
		if col != "" {
			tp, _ = t.Get(i, col).([]byte)
		} else {
			for _, c := range t.Columns {
				if b, ok := t.Get(i, c).([]byte); ok && strings.Contains(strings.ToLower(c), "public") && len(b) > 0 {
					sum := sha1.Sum(b)
					tp = sum[:]
				}
			}
		}
		if len(tp) > 0 && bytes.Equal(tp, own.thumbprint) {
			return check.Outcome{Status: check.Pass, Measured: fmt.Sprintf("%s (thumbprint %s)", name, short(tp)),
				Reason: "the MI trusts the certificate SQL Server's endpoint authenticates with"}
		}
	}
	if col == "" && len(t.Rows) > 0 {
		return check.Outcome{Status: check.Warn, Measured: fmt.Sprintf("%d trusted: %s", len(t.Rows), strings.Join(names, ", ")),
			Reason: "the MI's trust view has no thumbprint linkmesh can compare, so whether SQL Server's certificate is among them is unknown", Fix: upload}
	}
	measured := "none"
	if len(names) > 0 {
		measured = fmt.Sprintf("%d trusted: %s", len(names), strings.Join(names, ", "))
	}
	return check.Outcome{Status: check.Fail, Measured: measured,
		Reason: fmt.Sprintf("the MI does not trust SQL Server's endpoint certificate %s (thumbprint %s): the link fails with error 41973", own.name, short(own.thumbprint)),
		Fix:    upload}
}
