// Package codec encrypts every payload healthd gives Temporal (workflow
// inputs, activity inputs and results, signals, updates, queries, memos)
// with AES-256-GCM: a poll URL's credentials, node names and reasons are then
// unreadable in Temporal's database, its UI and its CLI, unless they ask a
// codec server (Handler) that holds the keys. It is Temporal's own answer to
// data in histories, a converter.PayloadCodec.
//
// Keys live in a file, one per line, "<id> <base64 of 32 bytes>"; the first
// encrypts, every one decrypts, so that a key is rotated by putting a new
// one first and dropping the old one once no history needs it. Each payload
// names the key that encrypted it. Payloads that were never encrypted (a
// history recorded before the codec) pass through unchanged.
package codec

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
)

// Metadata of an encrypted payload.
const (
	// Encoding marks an encrypted payload.
	Encoding = "binary/encrypted"
	// MetadataKeyID names the key that encrypted it.
	MetadataKeyID = "encryption-key-id"
	// MetadataCipher names the cipher.
	MetadataCipher = "encryption-cipher"
	cipherName     = "AES256-GCM"
)

var keyIDRule = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// Codec is an AES-256-GCM converter.PayloadCodec.
type Codec struct {
	encryptWith string
	keys        map[string]cipher.AEAD
}

var _ converter.PayloadCodec = (*Codec)(nil)

// Load reads a keys file. Its errors name the file and the line, never a
// key.
func Load(path string) (*Codec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("keys file %s: %v", path, err)
	}
	c := &Codec{keys: map[string]cipher.AEAD{}}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, enc, ok := strings.Cut(line, " ")
		key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(enc))
		switch {
		case !ok || !keyIDRule.MatchString(id):
			return nil, fmt.Errorf("keys file %s, line %d: must be \"<id> <base64 key>\", the id 1 to 64 letters, digits, '.', '_' or '-'", path, n)
		case err != nil || len(key) != 32:
			return nil, fmt.Errorf("keys file %s, line %d: key %s must be 32 bytes in base64 (openssl rand -base64 32)", path, n, id)
		case c.keys[id] != nil:
			return nil, fmt.Errorf("keys file %s, line %d: key %s is there twice", path, n, id)
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, fmt.Errorf("keys file %s, line %d: %v", path, n, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("keys file %s, line %d: %v", path, n, err)
		}
		c.keys[id] = aead
		if c.encryptWith == "" {
			c.encryptWith = id
		}
	}
	if c.encryptWith == "" {
		return nil, fmt.Errorf("keys file %s holds no key", path)
	}
	return c, nil
}

// KeyID is the id of the key that encrypts.
func (c *Codec) KeyID() string { return c.encryptWith }

// Encode encrypts each payload with the first key.
func (c *Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	aead := c.keys[c.encryptWith]
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		plain, err := p.Marshal()
		if err != nil {
			return nil, fmt.Errorf("encrypt payload: %w", err)
		}
		nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
		if _, err := rand.Read(nonce); err != nil {
			return nil, fmt.Errorf("encrypt payload: %w", err)
		}
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{
				converter.MetadataEncoding: []byte(Encoding),
				MetadataKeyID:              []byte(c.encryptWith),
				MetadataCipher:             []byte(cipherName),
			},
			Data: aead.Seal(nonce, nonce, plain, []byte(c.encryptWith)),
		}
	}
	return out, nil
}

// Decode decrypts each encrypted payload with the key it names; others pass
// through.
func (c *Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if string(p.GetMetadata()[converter.MetadataEncoding]) != Encoding {
			out[i] = p
			continue
		}
		id := string(p.GetMetadata()[MetadataKeyID])
		aead := c.keys[id]
		if aead == nil {
			return nil, fmt.Errorf("decrypt payload: no key %q in the keys file (a key still needed was dropped?)", id)
		}
		data := p.GetData()
		if len(data) < aead.NonceSize() {
			return nil, errors.New("decrypt payload: too short")
		}
		plain, err := aead.Open(nil, data[:aead.NonceSize()], data[aead.NonceSize():], []byte(id))
		if err != nil {
			return nil, fmt.Errorf("decrypt payload with key %s: %w", id, err)
		}
		var dec commonpb.Payload
		if err := dec.Unmarshal(plain); err != nil {
			return nil, fmt.Errorf("decrypt payload: %w", err)
		}
		out[i] = &dec
	}
	return out, nil
}

// DataConverter is the default data converter with the codec over it.
func (c *Codec) DataConverter() converter.DataConverter {
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), c)
}
