package pmtu

// The figures ClampMSS works from.
const (
	// AzureVPNGatewayMSS is the TCP MSS Azure VPN Gateway clamps to, and what
	// Microsoft asks on-premises VPN devices to clamp to on tunnels to Azure.
	AzureVPNGatewayMSS = 1350
	// IPv4TCPHeaders is the IPv4 and TCP header bytes between a packet's size
	// and the MSS it carries (20 + 20, no options; the MSS option counts
	// without them).
	IPv4TCPHeaders = 40
)

// ClampMSS is the TCP MSS to clamp to on the VPN device of a path whose
// largest packet that crosses is pathMTU bytes: Azure VPN Gateway's 1350, or
// less when the measured path is smaller than that allows (pathMTU − 40). The
// echo kind's black-hole detail and the check's MTU row both give it, so one
// measured MTU gets one number. An IPv6 path needs 20 bytes less.
func ClampMSS(pathMTU int) int {
	return min(AzureVPNGatewayMSS, pathMTU-IPv4TCPHeaders)
}
