package restgateway

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/weft-ledger/weft/msp"
)

// A caller authenticates with one credential, and each credential is bound
// to at most one wallet identity, fixed when the server starts: a bearer
// token (restgateway.auth.tokens) or, over mutual TLS, a client certificate
// whose subject common name is mapped (restgateway.auth.clientCerts). The
// X-Weft-Identity header can only repeat the bound identity. An admin
// identity can be bound only by an entry with allowAdmin: true.

// credential is what an authenticated request acts as.
type credential struct {
	name     string               // the configuration entry, e.g. restgateway.auth.tokens[0]; never the secret
	identity string               // the bound wallet identity; "" signs nothing
	signer   *msp.SigningIdentity // nil when identity is ""
}

// tokenEntry is a bearer token, kept as its SHA-256 so every comparison
// takes the same time whatever the token presented.
type tokenEntry struct {
	sum  [sha256.Size]byte
	cred *credential
}

// authenticator finds the credential of a request.
type authenticator struct {
	tokens []tokenEntry
	certs  map[string]*credential // by subject common name
}

// newAuthenticator binds every credential of a to its wallet identity,
// refusing unknown identities and admin identities not allowed.
func newAuthenticator(a AuthConfig, w *Wallet, defaultIdentity string, admins []string) (*authenticator, error) {
	if len(a.Tokens) == 0 && len(a.ClientCerts) == 0 {
		return nil, fmt.Errorf("restgateway: no credentials (restgateway.auth.tokens or restgateway.auth.clientCerts): every request would be refused")
	}
	au := &authenticator{certs: map[string]*credential{}}
	var errs []string
	bind := func(name, identity string, allowAdmin bool) *credential {
		c := &credential{name: name, identity: identity}
		if c.identity == "" {
			c.identity = defaultIdentity
		}
		if c.identity == "" {
			return c // client-signed flow only
		}
		id, ok := w.Identity(c.identity)
		if !ok {
			errs = append(errs, fmt.Sprintf("%s is bound to identity %q, which is not in the wallet (restgateway.wallet.path); it holds %s",
				name, c.identity, describeNames(w.Names())))
			return c
		}
		if why := adminReason(c.identity, id, admins); why != "" && !allowAdmin {
			errs = append(errs, fmt.Sprintf("%s is bound to %s, an admin identity (%s); set allowAdmin: true on that entry to let its holder sign as an admin, or bind it to another identity",
				name, c.identity, why))
		}
		c.signer = id
		return c
	}
	for i, t := range a.Tokens {
		name := fmt.Sprintf("restgateway.auth.tokens[%d]", i)
		if len(t.Token) < MinTokenLength {
			errs = append(errs, fmt.Sprintf("%s: the token is shorter than %d characters", name, MinTokenLength))
		}
		au.tokens = append(au.tokens, tokenEntry{sum: sha256.Sum256([]byte(t.Token)), cred: bind(name, t.Identity, t.AllowAdmin)})
	}
	for i, c := range a.ClientCerts {
		name := fmt.Sprintf("restgateway.auth.clientCerts[%d] (commonName %s)", i, c.CommonName)
		au.certs[c.CommonName] = bind(name, c.Identity, c.AllowAdmin)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("restgateway: %s", strings.Join(errs, "; "))
	}
	return au, nil
}

// describe lists the credentials and their identities for the start log.
func (au *authenticator) describe() string {
	var parts []string
	for _, t := range au.tokens {
		parts = append(parts, t.cred.describe())
	}
	names := make([]string, 0, len(au.certs))
	for cn := range au.certs {
		names = append(names, cn)
	}
	sort.Strings(names)
	for _, cn := range names {
		parts = append(parts, au.certs[cn].describe())
	}
	return strings.Join(parts, "; ")
}

func (c *credential) describe() string {
	if c.identity == "" {
		return c.name + " → no identity (client-signed flow only)"
	}
	return c.name + " → " + c.identity
}

// adminReason says why identity name is an admin, or "" when it is not: its
// certificate carries the NodeOU admin role, or it is listed in
// restgateway.wallet.adminIdentities.
func adminReason(name string, id *msp.SigningIdentity, listed []string) string {
	for _, ou := range id.Cert.Subject.OrganizationalUnit {
		if strings.EqualFold(ou, msp.OUAdmin) {
			return "its certificate carries the NodeOU role OU=" + ou
		}
	}
	if contains(listed, name) {
		return "it is listed in restgateway.wallet.adminIdentities"
	}
	return ""
}

// authenticate returns the request's credential: the bearer token when the
// request has an Authorization header, else its verified client certificate.
// The error never tells whether a token or an identity exists.
func (au *authenticator) authenticate(r *http.Request) (*credential, *Error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, token, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Bearer") {
			return nil, apiErr(CodeUnauthenticated, "the Authorization header uses the scheme %q; this REST gateway takes \"Authorization: Bearer <token>\"", scheme)
		}
		sum := sha256.Sum256([]byte(strings.TrimSpace(token)))
		var found *credential
		for _, t := range au.tokens { // no early exit: the time does not depend on which entry matches
			if subtle.ConstantTimeCompare(sum[:], t.sum[:]) == 1 {
				found = t.cred
			}
		}
		if found == nil {
			return nil, apiErr(CodeUnauthenticated, "the bearer token is not one of this REST gateway's tokens (restgateway.auth.tokens); check that the client sends the whole token")
		}
		return found, nil
	}
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.PeerCertificates) > 0 {
		cert := r.TLS.PeerCertificates[0]
		if c, ok := au.certs[cert.Subject.CommonName]; ok {
			return c, nil
		}
		return nil, apiErr(CodeUnauthenticated, "the client certificate %q (issued by %q) is mapped to no identity: add its common name to restgateway.auth.clientCerts",
			cert.Subject.String(), cert.Issuer.String())
	}
	var ways []string
	if len(au.tokens) > 0 {
		ways = append(ways, "an \"Authorization: Bearer <token>\" header (restgateway.auth.tokens)")
	}
	if len(au.certs) > 0 {
		ways = append(ways, "a client certificate over TLS (restgateway.auth.clientCerts)")
	}
	return nil, apiErr(CodeUnauthenticated, "no credential: send %s", strings.Join(ways, " or "))
}

type credentialKey struct{}

// withCredential returns r carrying its credential.
func withCredential(r *http.Request, c *credential) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), credentialKey{}, c))
}

// credentialOf returns the credential the request authenticated with, nil
// for the unauthenticated routes.
func credentialOf(r *http.Request) *credential {
	c, _ := r.Context().Value(credentialKey{}).(*credential)
	return c
}

// checkIdentityHeader refuses an X-Weft-Identity header naming another
// identity than the credential's.
func checkIdentityHeader(r *http.Request, c *credential) *Error {
	asked := r.Header.Get(IdentityHeader)
	if asked == "" || asked == c.identity {
		return nil
	}
	if c.identity == "" {
		return apiErr(CodeIdentityNotAllowed, "%s: %s is not allowed: the credential %s is bound to no identity (client-signed flow only); drop the header",
			IdentityHeader, asked, c.name)
	}
	return apiErr(CodeIdentityNotAllowed, "%s: %s is not allowed: the credential %s signs only as %s; drop the header or name that identity",
		IdentityHeader, asked, c.name, c.identity)
}

// NewToken returns a random bearer token: 32 random bytes in hex.
func NewToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// WriteNewToken writes a new random token into file (mode 0600, its folder
// created) unless the file exists; it returns whether it wrote one.
func WriteNewToken(file string) (bool, error) {
	if _, err := os.Stat(file); err == nil {
		return false, nil
	}
	tok, err := NewToken()
	if err != nil {
		return false, err
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return false, err
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return false, err
	}
	if _, err := f.WriteString(tok + "\n"); err != nil {
		f.Close()
		return false, err
	}
	return true, f.Close()
}
