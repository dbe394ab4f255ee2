package sqlserver

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/linkmesh/linkmesh/internal/check"
)

// queryTrust reads whether master has a database master key (the endpoint's
// certificate keeps its private key under it) and whether this build has the
// procedure that trusts Azure's root authorities (sp_certificate_add_issuer,
// added by the service updates the link needs).
const queryTrust = `SELECT
  (SELECT COUNT(*) FROM master.sys.symmetric_keys WHERE name = N'##MS_DatabaseMasterKey##') AS master_keys,
  (SELECT COUNT(*) FROM sys.system_objects WHERE name = N'sp_certificate_add_issuer') AS add_issuer_procs`

// queryCertificates reads master's certificates, marking the one the database
// mirroring endpoint authenticates with.
const queryCertificates = `SELECT c.name, c.subject, c.issuer_name, c.expiry_date, c.thumbprint,
  c.pvt_key_encryption_type_desc,
  CASE WHEN e.certificate_id IS NULL THEN 0 ELSE 1 END AS is_endpoint_certificate
FROM master.sys.certificates AS c
LEFT JOIN master.sys.database_mirroring_endpoints AS e ON e.certificate_id = c.certificate_id`

// expiryWarning is how soon before it expires a certificate is a warning.
const expiryWarning = 30 * 24 * time.Hour

// certificate is one row of queryCertificates.
type certificate struct {
	name, subject, issuer, privateKey string
	expiry                            time.Time
	thumbprint                        []byte
	endpoint                          bool
}

func parseCertificates(t Table) []certificate {
	out := make([]certificate, 0, len(t.Rows))
	for i := range t.Rows {
		ep, _ := asInt(t.Get(i, "is_endpoint_certificate"))
		tp, _ := t.Get(i, "thumbprint").([]byte)
		out = append(out, certificate{
			name: asString(t.Get(i, "name")), subject: asString(t.Get(i, "subject")), issuer: asString(t.Get(i, "issuer_name")),
			privateKey: asString(t.Get(i, "pvt_key_encryption_type_desc")), expiry: asTime(t.Get(i, "expiry_date")),
			thumbprint: tp, endpoint: ep == 1,
		})
	}
	return out
}

// readTrust runs queryTrust and queryCertificates once.
func (s *session) readTrust(ctx context.Context) (Table, []certificate, error) {
	s.trustOnce.Do(func() {
		if s.trust, s.trustErr = s.query(ctx, queryTrust); s.trustErr != nil {
			return
		}
		if len(s.trust.Rows) != 1 {
			s.trustErr = fmt.Errorf("master key and procedure: %d rows, want 1", len(s.trust.Rows))
			return
		}
		var t Table
		if t, s.trustErr = s.query(ctx, queryCertificates); s.trustErr == nil {
			s.certs = parseCertificates(t)
		}
	})
	return s.trust, s.certs, s.trustErr
}

// trustRow reads the trust state and runs judge on it; a query error fails
// the row with what the login needs.
func (s *session) trustRow(judge func(ctx context.Context, trust Table, certs []certificate) check.Outcome) func(context.Context) check.Outcome {
	return func(ctx context.Context) check.Outcome {
		trust, certs, err := s.readTrust(ctx)
		if err != nil {
			return check.Outcome{Status: check.Fail, Measured: "unknown", Reason: "cannot read master's keys and certificates: " + oneLine(err),
				Fix: &check.Fix{For: check.ForDBA, Summary: "The login cannot read master's keys and certificates.",
					Steps: []check.Step{{Text: "Grant the login VIEW DEFINITION in master (or VIEW ANY DEFINITION), or run the check as sysadmin:",
						Command: "GRANT VIEW ANY DEFINITION TO [<login>];", Shell: check.ShellTSQL}}}}
		}
		return judge(ctx, trust, certs)
	}
}

// masterKey is the sql.masterkey row.
func (s *session) masterKey(_ context.Context, trust Table, _ []certificate) check.Outcome {
	if n, _ := asInt(trust.Get(0, "master_keys")); n > 0 {
		return check.Outcome{Status: check.Pass, Measured: "present", Reason: "master has a database master key"}
	}
	return check.Outcome{Status: check.Fail, Measured: "none",
		Reason: "master has no database master key: the endpoint's certificate keeps its private key under it",
		Fix: &check.Fix{For: check.ForDBA, Summary: "Create a database master key in master (keep its password with the server's other secrets).",
			Steps: []check.Step{{Text: "In master:", Command: "USE master;\nCREATE MASTER KEY ENCRYPTION BY PASSWORD = N'<strong password>';", Shell: check.ShellTSQL}}}}
}

// endpointCert is the sql.cert row: the certificate the endpoint
// authenticates with has its private key, is valid for more than 30 days and
// has a name without a backslash.
func (s *session) endpointCert(_ context.Context, _ Table, certs []certificate) check.Outcome {
	var c *certificate
	for i := range certs {
		if certs[i].endpoint {
			c = &certs[i]
		}
	}
	if c == nil {
		return check.Outcome{Status: check.Fail, Measured: "none",
			Reason: "the mirroring endpoint does not authenticate with a certificate in master (see sql.endpoint)",
			Fix: &check.Fix{For: check.ForDBA, Summary: "Create a certificate in master and let the endpoint authenticate with it.",
				Steps: []check.Step{newCertStep(), {Text: "Let the endpoint use it (keeping Windows authentication for existing availability groups):",
					Command: "ALTER ENDPOINT [<endpoint>] FOR DATABASE_MIRRORING (AUTHENTICATION = WINDOWS NEGOTIATE CERTIFICATE [<certificate-name>]);", Shell: check.ShellTSQL},
					uploadCertStep()}}}
	}
	now := s.opts.now()
	o := check.Outcome{Measured: fmt.Sprintf("%s, expires %s", c.name, c.expiry.Format("2006-01-02"))}
	var problems []string
	if strings.Contains(c.name, `\`) {
		problems = append(problems, fmt.Sprintf("its name %q contains a backslash, which the link cannot use", c.name))
	}
	if c.privateKey == "NO_PRIVATE_KEY" {
		problems = append(problems, "SQL Server holds no private key for it")
	}
	if !c.expiry.IsZero() && !c.expiry.After(now) {
		problems = append(problems, "it expired on "+c.expiry.Format("2006-01-02"))
	}
	rotate := &check.Fix{For: check.ForDBA, Summary: "Give the endpoint a new certificate and let the MI trust it.",
		Steps: []check.Step{newCertStep(), {Text: "Let the endpoint use it:",
			Command: "ALTER ENDPOINT [<endpoint>] FOR DATABASE_MIRRORING (AUTHENTICATION = WINDOWS NEGOTIATE CERTIFICATE [<certificate-name>]);", Shell: check.ShellTSQL},
			uploadCertStep()}}
	switch {
	case len(problems) > 0:
		o.Status, o.Reason, o.Fix = check.Fail, "the endpoint's certificate: "+strings.Join(problems, "; "), rotate
	case !c.expiry.IsZero() && c.expiry.Sub(now) < expiryWarning:
		o.Status, o.Fix = check.Warn, rotate
		o.Reason = fmt.Sprintf("the endpoint's certificate expires in %d days: the link stops when it does", int(c.expiry.Sub(now).Hours()/24))
	default:
		o.Status, o.Reason = check.Pass, "the endpoint's certificate has its private key and is valid for more than 30 days"
	}
	return o
}

func newCertStep() check.Step {
	return check.Step{Text: "Create a certificate in master (its name without a backslash):",
		Command: "USE master;\nCREATE CERTIFICATE [<certificate-name>] WITH SUBJECT = N'MI link endpoint', EXPIRY_DATE = N'<yyyy-mm-dd>';", Shell: check.ShellTSQL}
}

func uploadCertStep() check.Step {
	return check.Step{Text: "Read its public key (SELECT CERTENCODED(CERT_ID(N'<certificate-name>'));) and let the MI trust it, in Azure Cloud Shell:",
		Command: "az sql mi partner-cert create -g <resource-group> --instance-name <mi-name> -n <certificate-name> --public-blob <0x…>", Shell: check.ShellAzureCLI}
}

// miCert is the sql.micert row: the MI's endpoint certificate is imported in
// master under the MI's FQDN, not expired, and — with --mi-dsn — is the one
// the MI authenticates with now.
func (s *session) miCert(ctx context.Context, _ Table, certs []certificate) check.Outcome {
	fqdn := s.opts.MI
	var c *certificate
	for i := range certs {
		if strings.EqualFold(certs[i].name, fqdn) {
			c = &certs[i]
		}
	}
	importFix := &check.Fix{For: check.ForDBA, Summary: fmt.Sprintf("Import the MI's endpoint certificate into master under the name %s.", fqdn),
		Steps: []check.Step{
			{Text: "On the MI, read its endpoint certificate's public key:", Command: "EXEC sp_get_endpoint_certificate @endpoint_type = 4;", Shell: check.ShellTSQL},
			{Text: "On SQL Server, import it under the MI's FQDN exactly (drop an older one of that name first):",
				Command: fmt.Sprintf("USE master;\nCREATE CERTIFICATE %s FROM BINARY = <0x… public key>;", quoteName(fqdn)), Shell: check.ShellTSQL},
		}}
	if c == nil {
		var near []string
		for _, x := range certs {
			if strings.Contains(strings.ToLower(x.subject+" "+x.name), strings.ToLower(firstLabel(fqdn))) {
				near = append(near, x.name)
			}
		}
		o := check.Outcome{Status: check.Fail, Measured: "none named " + fqdn,
			Reason: fmt.Sprintf("master has no certificate named %s: the link finds the MI's certificate by that name", fqdn), Fix: importFix}
		if len(near) > 0 {
			o.Measured = "found " + strings.Join(near, ", ")
			o.Reason += fmt.Sprintf(" (%s may be the MI's, under another name: the link does not find it)", strings.Join(near, ", "))
		}
		return o
	}
	o := check.Outcome{Measured: fmt.Sprintf("%s, expires %s", c.name, c.expiry.Format("2006-01-02"))}
	if !c.expiry.IsZero() && !c.expiry.After(s.opts.now()) {
		o.Status, o.Fix = check.Fail, importFix
		o.Reason = "the MI's certificate imported here expired on " + c.expiry.Format("2006-01-02") + ": import the MI's current one"
		return o
	}
	if s.mi == nil {
		o.Status = check.Pass
		o.Reason = "imported under the MI's FQDN and not expired (give --mi-dsn to compare it with the certificate the MI uses now)"
		return o
	}
	mi, err := s.miEndpointCert(ctx)
	if err != nil {
		o.Status = check.Warn
		o.Reason = "imported under the MI's FQDN and not expired; not compared with the MI's own, which could not be read: " + oneLine(err)
		return o
	}
	if !bytes.Equal(mi.thumbprint, c.thumbprint) {
		o.Status, o.Fix = check.Fail, importFix
		o.Measured += ", thumbprint " + short(c.thumbprint) + " ≠ the MI's " + short(mi.thumbprint)
		o.Reason = "the certificate imported under the MI's FQDN is not the one the MI authenticates with now (it was renewed, or another MI's was imported)"
		return o
	}
	o.Status, o.Reason = check.Pass, "imported under the MI's FQDN, and the same certificate the MI authenticates with now"
	return o
}

// firstLabel is the host part of an FQDN (sqlmi1 of sqlmi1.abc.database.windows.net).
func firstLabel(fqdn string) string {
	l, _, _ := strings.Cut(fqdn, ".")
	return l
}

// short is a thumbprint's first 8 hex digits.
func short(b []byte) string {
	h := hex.EncodeToString(b)
	if len(h) > 8 {
		h = h[:8] + "…"
	}
	return h
}

// azureRoots are the root authorities Microsoft's guidance asks SQL Server to
// trust for *.database.windows.net, by the names its scripts give them and by
// the subjects they carry.
var azureRoots = []struct{ name, subject string }{
	{"DigiCertPKI", "DigiCert Global Root G2"},
	{"MicrosoftPKI", "Microsoft RSA Root Certificate Authority 2017"},
}

// roots is the sql.roots row: the procedure that trusts a root for
// *.database.windows.net exists, and the two roots are in master.
func (s *session) roots(_ context.Context, trust Table, certs []certificate) check.Outcome {
	if n, _ := asInt(trust.Get(0, "add_issuer_procs")); n == 0 {
		return check.Outcome{Status: check.Fail, Measured: "no sp_certificate_add_issuer",
			Reason: "this build has no sp_certificate_add_issuer, so it cannot trust the MI's certificate authority: it lacks the service update the link needs (see sql.version)",
			Fix: &check.Fix{For: check.ForDBA, Summary: "Install the cumulative update the link needs (SQL Server 2016: the Azure Connect pack), then import Azure's root authorities.",
				Steps: []check.Step{{Text: "See the sql.version row for the update this build needs."}}}}
	}
	var missing, found []string
	for _, r := range azureRoots {
		ok := false
		for _, c := range certs {
			if strings.EqualFold(c.name, r.name) || strings.Contains(c.subject, r.subject) {
				ok = true
				found = append(found, c.name)
				break
			}
		}
		if !ok {
			missing = append(missing, r.subject)
		}
	}
	if len(missing) == 0 {
		return check.Outcome{Status: check.Pass, Measured: strings.Join(found, ", "),
			Reason: "Azure's two root authorities are in master (whether sp_certificate_add_issuer was run for them, no catalog view shows: docs/check.md says what to do when the link fails with error 41974)"}
	}
	steps := []check.Step{{Text: "Download the root certificates from Azure's certificate authority details page (learn.microsoft.com/azure/security/fundamentals/azure-ca-details) to C:\\certs on the SQL Server host."}}
	for _, r := range azureRoots {
		steps = append(steps, check.Step{Text: fmt.Sprintf("Import %s and trust it for *.database.windows.net:", r.subject),
			Command: fmt.Sprintf("USE master;\nCREATE CERTIFICATE [%s] FROM FILE = N'C:\\certs\\%s.crt';\nDECLARE @id int = CERT_ID(N'%s');\nEXEC sp_certificate_add_issuer @id, N'*.database.windows.net';", r.name, r.subject, r.name),
			Shell:   check.ShellTSQL})
	}
	return check.Outcome{Status: check.Fail, Measured: "missing " + strings.Join(missing, ", "),
		Reason: "master lacks Azure's root authorities " + strings.Join(missing, " and ") + ": SQL Server cannot verify the MI's certificate",
		Fix:    &check.Fix{For: check.ForDBA, Summary: "Import Azure's root certificate authorities into master and trust them for *.database.windows.net.", Steps: steps}}
}
