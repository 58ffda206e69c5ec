// Package tlstest makes throwaway certificates for tests of TLS connections:
// a certificate authority of the test's own, a server certificate it signs
// for 127.0.0.1, ::1 and localhost and a client certificate (for mTLS)
// it signs for "healthd-test-client", written as PEM files to a temporary
// directory that is removed when the test ends. Keys are ECDSA P-256 and the
// certificates are valid for a day around now.
package tlstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Hosts are the names and addresses the server certificate is valid for.
var Hosts = []string{"127.0.0.1", "::1", "localhost"}

// Files are the paths of a CA certificate and of a server certificate it
// signed, with the server's key.
type Files struct {
	// CA is the CA certificate (PEM), for a client's root certificates.
	CA string
	// Cert is the server certificate (PEM), signed by CA.
	Cert string
	// Key is the server's private key (PEM, PKCS #8), readable by its owner
	// only.
	Key string
	// ClientCert and ClientKey are a client certificate signed by CA, for
	// mTLS, and its key.
	ClientCert, ClientKey string
	// Dir holds the files.
	Dir string
}

// ClientName is the common name of the client certificate.
const ClientName = "healthd-test-client"

// New makes a CA and a server certificate for Hosts signed by it, writes them
// to a new temporary directory and returns their paths. Each call makes a new
// CA, so the CA of one call has not signed the server certificate of
// another: that is a wrong CA for it. It fails the test on any error.
func New(t testing.TB) Files {
	t.Helper()
	f, err := write(t.TempDir())
	if err != nil {
		t.Fatalf("tlstest: %v", err)
	}
	return f
}

// write makes the certificates in dir.
func write(dir string) (Files, error) {
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Files{}, err
	}
	caSerial, err := serial()
	if err != nil {
		return Files{}, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          caSerial,
		Subject:               pkix.Name{CommonName: "healthd test CA " + caSerial.Text(16)},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return Files{}, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return Files{}, err
	}

	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "localhost"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range Hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, keyDER, err := issue(tmpl, ca, caKey, now)
	if err != nil {
		return Files{}, err
	}
	clientDER, clientKeyDER, err := issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: ClientName},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, ca, caKey, now)
	if err != nil {
		return Files{}, err
	}

	f := Files{
		CA:         filepath.Join(dir, "ca.crt"),
		Cert:       filepath.Join(dir, "server.crt"),
		Key:        filepath.Join(dir, "server.key"),
		ClientCert: filepath.Join(dir, "client.crt"),
		ClientKey:  filepath.Join(dir, "client.key"),
		Dir:        dir,
	}
	for _, w := range []struct {
		path, typ string
		der       []byte
		mode      os.FileMode
	}{
		{f.CA, "CERTIFICATE", caDER, 0o644},
		{f.Cert, "CERTIFICATE", der, 0o644},
		{f.Key, "PRIVATE KEY", keyDER, 0o600},
		{f.ClientCert, "CERTIFICATE", clientDER, 0o644},
		{f.ClientKey, "PRIVATE KEY", clientKeyDER, 0o600},
	} {
		if err := os.WriteFile(w.path, pem.EncodeToMemory(&pem.Block{Type: w.typ, Bytes: w.der}), w.mode); err != nil {
			return Files{}, err
		}
	}
	return f, nil
}

// issue signs tmpl (its subject, names and extended key usage) with the CA
// for a new P-256 key, valid for a day around now, and returns the
// certificate and the PKCS #8 key, DER encoded.
func issue(tmpl *x509.Certificate, ca *x509.Certificate, caKey *ecdsa.PrivateKey, now time.Time) (cert, key []byte, err error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	if tmpl.SerialNumber, err = serial(); err != nil {
		return nil, nil, err
	}
	tmpl.NotBefore, tmpl.NotAfter = now.Add(-time.Hour), now.Add(24*time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	if cert, err = x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey); err != nil {
		return nil, nil, err
	}
	if key, err = x509.MarshalPKCS8PrivateKey(k); err != nil {
		return nil, nil, err
	}
	return cert, key, nil
}

// serial returns a random 128-bit serial number.
func serial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
}
