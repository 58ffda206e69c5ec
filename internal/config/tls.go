package config

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// PEMCertificates is the [Rule] of a CA file setting (AMQP_CA_FILE,
// TEMPORAL_TLS_SERVER_CA_CERT_PATH): empty, or a readable file holding at
// least one PEM certificate.
func PEMCertificates(path string) string {
	if path == "" {
		return ""
	}
	if _, err := LoadCAs(path); err != nil {
		return "must be empty or a readable file holding PEM certificates (" + err.Error() + ")"
	}
	return ""
}

// LoadCAs reads the PEM certificates in path into a pool. Its errors do not
// repeat the path: the setting that names the file quotes it.
func LoadCAs(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		var pathErr *os.PathError
		if errors.As(err, &pathErr) {
			err = pathErr.Err
		}
		return nil, err
	}
	pool := x509.NewCertPool()
	n := 0
	for rest := data; ; {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("a PEM certificate does not parse: %w", err)
		}
		pool.AddCert(cert)
		n++
	}
	if n == 0 {
		return nil, errors.New("no PEM certificate in it")
	}
	return pool, nil
}
