package check

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// d1 tests that the MI's name resolves, from this host, to a private address in
// the MI subnet: the VNet-local endpoint, the only one that carries the link.
func (n *network) d1(ctx context.Context) Outcome {
	host := n.cfg.MI
	if n.mi.given() {
		return Outcome{Status: Skip, Measured: host,
			Reason: "--mi is an address, so there is nothing to resolve: give the MI's FQDN (the link uses it) to test D1"}
	}
	addrs, err := n.mi.get(ctx)
	if err != nil {
		return Outcome{Status: Fail, Result: "dns", Measured: "no address",
			Reason: fmt.Sprintf("%s does not resolve from this host: %s", host, dnsReason(err)),
			Fix:    dnsFix(host, fmt.Sprintf("This host cannot resolve %s; it must resolve to the MI's private address in the MI subnet.", host))}
	}
	measured := joinAddrs(addrs)
	if publicEndpointName(host) {
		return Outcome{Status: Fail, Measured: measured,
			Reason: fmt.Sprintf("%s is the MI's public endpoint name (port 3342), which cannot carry the link", host),
			Fix: &Fix{For: ForDBA, Summary: "The link needs the MI's VNet-local FQDN, not its public endpoint.",
				Steps: []Step{{Text: fmt.Sprintf("Use the name without \".public\": %s (the Host on the MI's Overview page in the Azure portal), and run linkmesh check with it.", strings.Replace(host, ".public.", ".", 1))}}}}
	}
	worst, bad := inSubnet, netip.Addr{}
	for _, a := range addrs {
		if c := classify(a, n.cfg.MISubnet); c > worst || !bad.IsValid() && c == worst {
			worst, bad = c, a
		}
	}
	subnet := n.cfg.MISubnet.String()
	switch worst {
	case inSubnet:
		return Outcome{Status: Pass, Measured: measured, Reason: "inside the MI subnet " + subnet}
	case private:
		return Outcome{Status: Pass, Measured: measured, Reason: "a private address (give --mi-subnet to check that it is in the MI subnet)"}
	case privateElsewhere:
		return Outcome{Status: Fail, Measured: measured,
			Reason: fmt.Sprintf("%s is outside the MI subnet %s: probably a private endpoint (port 1433 only, it cannot carry the link) or a stale record", bad, subnet),
			Fix:    dnsFix(host, fmt.Sprintf("%s resolves to %s, outside the MI subnet %s.", host, bad, subnet))}
	case local:
		return Outcome{Status: Fail, Measured: measured,
			Reason: fmt.Sprintf("%s is a loopback, link-local or blocked-name address: a hosts-file entry or a DNS filter answers, not the MI's record", bad),
			Fix:    dnsFix(host, fmt.Sprintf("%s resolves to %s, which is not the MI.", host, bad))}
	}
	reason := fmt.Sprintf("%s is a public address: you are reaching the MI's public endpoint, or DNS on this host answers with the wrong record (hosts file, forwarder, split-horizon zone)", bad)
	if !n.cfg.MISubnet.IsValid() {
		reason += "; if the MI's VNet uses this range as its private address space, give --mi-subnet"
	}
	return Outcome{Status: Fail, Measured: measured, Reason: reason,
		Fix: dnsFix(host, fmt.Sprintf("%s resolves to the public address %s; the link needs the MI's VNet-local endpoint, a private address in the MI subnet.", host, bad))}
}

// dnsReason says briefly why a lookup failed.
func dnsReason(err error) string {
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return "no such name (NXDOMAIN or no address records)"
	case errors.As(err, &dnsErr) && dnsErr.IsTimeout, errors.Is(err, context.DeadlineExceeded):
		return "the DNS server did not answer in time"
	case errors.As(err, &dnsErr):
		return dnsErr.Err
	}
	return err.Error()
}

// dnsFix is the DNS administrator's fix for D1.
func dnsFix(host, summary string) *Fix {
	label, _, _ := strings.Cut(host, ".")
	return &Fix{For: ForDNS, Summary: summary, Steps: []Step{
		{Text: "See what this host resolves, and compare with a DNS server in the MI's VNet (add -Server <dns-server-in-vnet>):",
			Command: "Resolve-DnsName " + host, Shell: ShellPowerShell},
		{Text: "Look for an entry that overrides the name in this host's hosts file:",
			Command: fmt.Sprintf(`Select-String -Path "$env:windir\System32\drivers\etc\hosts" -Pattern "%s"`, label), Shell: ShellPowerShell},
		{Text: "Use the MI's VNet-local FQDN (the Host on the MI's Overview page in the Azure portal), not <mi>.public.<dns-zone>.database.windows.net (public endpoint, port 3342) nor a private endpoint's name (port 1433)."},
		{Text: "If on-premises DNS cannot resolve the MI's zone, forward database.windows.net to a DNS forwarder in the VNet (Azure DNS at 168.63.129.16 answers only from inside Azure); on the DNS server:",
			Command: `Add-DnsServerConditionalForwarderZone -Name "database.windows.net" -MasterServers <dns-forwarder-in-vnet>`, Shell: ShellPowerShell},
	}}
}
