package cli

import (
	"flag"

	"github.com/linkmesh/linkmesh/internal/tlsconf"
)

// tlsFlags are --tls-ca, --tls-cert and --tls-key.
type tlsFlags struct {
	ca, cert, key string
}

func (t *tlsFlags) register(fs *flag.FlagSet, certHelp string) {
	fs.StringVar(&t.ca, "tls-ca", "", "the mesh's CA certificate (ca.crt from linkmesh certs ca)")
	fs.StringVar(&t.cert, "tls-cert", "", certHelp)
	fs.StringVar(&t.key, "tls-key", "", "the private key of --tls-cert")
}

func (t *tlsFlags) empty() bool { return t.ca == "" && t.cert == "" && t.key == "" }

func (t *tlsFlags) files() tlsconf.Files { return tlsconf.Files{CA: t.ca, Cert: t.cert, Key: t.key} }
