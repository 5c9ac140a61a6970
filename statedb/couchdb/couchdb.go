package couchdb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	kivik "github.com/go-kivik/kivik/v4"
	"github.com/go-kivik/kivik/v4/couchdb" // the "couch" driver
	"github.com/go-kivik/kivik/v4/couchdb/chttp"
)

// Config is the peer's ledger.state.couchDBConfig section.
type Config struct {
	// Address is ledger.state.couchDBConfig.couchDBAddress: host:port or
	// http(s)://host:port (a path is kept, for a CouchDB behind a proxy).
	Address string
	// Username and Password authenticate every request with HTTP basic
	// auth; empty for a server without authentication. When set, every
	// database Weft creates is restricted to that user, as Fabric does.
	Username, Password string
	// MaxRetries is how often a request that failed for a transient reason
	// (connection refused or reset, timeout, HTTP 5xx) is retried, with a
	// delay that starts at 125ms and doubles up to 4s. Zero means the default; a
	// negative value means no retry (Fabric's maxRetries: 0).
	MaxRetries int
	// MaxRetriesOnStartup is how often Connect retries reaching the server
	// (zero: the default; negative: no retry).
	MaxRetriesOnStartup int
	// RequestTimeout bounds each HTTP request, its response body included.
	RequestTimeout time.Duration
	// InternalQueryLimit is the page size of the requests behind one query
	// or range scan.
	InternalQueryLimit int
	// TotalQueryLimit caps the results of one ExecuteQuery and the size of
	// one ExecuteQueryPage.
	TotalQueryLimit int
	// MaxBatchUpdateSize caps the documents of one _bulk_docs request.
	MaxBatchUpdateSize int
	// WarmIndexesAfterNBlocks: after every N applied blocks, the views
	// behind each index are queried so CouchDB brings them up to date
	// before a query needs them.
	WarmIndexesAfterNBlocks int
	// CreateGlobalChangesDB creates the server's _global_changes database.
	CreateGlobalChangesDB bool
	// CacheSizeMB bounds the cache of committed values shared by all
	// channels of the client (cacheSize). Zero means the default; a
	// negative size disables the cache (Fabric's cacheSize: 0).
	CacheSizeMB int
	// DatabasePrefix is Weft's own: it is prepended to every database name
	// so several peers can share one server; "" gives Fabric's names. It
	// must be a valid start of a CouchDB database name (a-z first, then
	// a-z 0-9 _$()+-/) of at most 19 characters.
	DatabasePrefix string
	// Logger receives the backend's logs; nil means slog.Default().
	Logger *slog.Logger
}

// WithDefaults returns c with Fabric's default for every zero field
// (sampleconfig/core.yaml, ledger.state.couchDBConfig).
func (c Config) WithDefaults() Config {
	if c.MaxRetries == 0 {
		c.MaxRetries = 3
	}
	if c.MaxRetriesOnStartup == 0 {
		c.MaxRetriesOnStartup = 10
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = 35 * time.Second
	}
	if c.InternalQueryLimit == 0 {
		c.InternalQueryLimit = 1000
	}
	if c.TotalQueryLimit == 0 {
		c.TotalQueryLimit = 100000
	}
	if c.MaxBatchUpdateSize == 0 {
		c.MaxBatchUpdateSize = 1000
	}
	if c.WarmIndexesAfterNBlocks == 0 {
		c.WarmIndexesAfterNBlocks = 1
	}
	if c.CacheSizeMB == 0 {
		c.CacheSizeMB = 64
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func (c Config) validate() error {
	switch {
	case strings.TrimSpace(c.Address) == "":
		return errors.New("couchdb: ledger.state.couchDBConfig.couchDBAddress is empty")
	case c.RequestTimeout < 0:
		return fmt.Errorf("couchdb: ledger.state.couchDBConfig.requestTimeout is %s, want more than 0", c.RequestTimeout)
	case c.InternalQueryLimit < 0:
		return fmt.Errorf("couchdb: ledger.state.couchDBConfig.internalQueryLimit is %d, want more than 0", c.InternalQueryLimit)
	case c.TotalQueryLimit < 0:
		return fmt.Errorf("couchdb: ledger.state.totalQueryLimit is %d, want more than 0", c.TotalQueryLimit)
	case c.MaxBatchUpdateSize < 0:
		return fmt.Errorf("couchdb: ledger.state.couchDBConfig.maxBatchUpdateSize is %d, want more than 0", c.MaxBatchUpdateSize)
	case c.WarmIndexesAfterNBlocks < 0:
		return fmt.Errorf("couchdb: ledger.state.couchDBConfig.warmIndexesAfterNBlocks is %d, want more than 0", c.WarmIndexesAfterNBlocks)
	}
	if err := validPrefix(c.DatabasePrefix); err != nil {
		return fmt.Errorf("couchdb: %w", err)
	}
	return nil
}

// ErrUnavailable is matched (errors.Is) by every error caused by a server
// that could not be reached or answered 5xx after all retries: the caller
// may retry later, the request itself was not at fault.
var ErrUnavailable = errors.New("couchdb: server unavailable")

// requestError is every error of a request to CouchDB: it names the server,
// so that an endorsement or commit error tells the user where to look.
type requestError struct {
	addr, op  string
	attempts  int
	transient bool
	err       error
}

func (e *requestError) Error() string {
	msg := fmt.Sprintf("CouchDB at %s: %s: %v", e.addr, e.op, e.err)
	if e.attempts > 1 {
		msg += fmt.Sprintf(" (after %d attempts)", e.attempts)
	}
	return msg
}

func (e *requestError) Unwrap() error { return e.err }

func (e *requestError) Is(target error) bool { return target == ErrUnavailable && e.transient }

// transient reports whether err may pass if the request is made again: the
// server could not be reached, timed out, or failed with a 5xx (the
// couchdb driver reports transport failures as 502).
func transient(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	// Only an answer (or a transport failure) carries a status; an error of
	// Weft's own, such as an undecodable document, is not worth retrying.
	var sc interface{ HTTPStatus() int }
	if !errors.As(err, &sc) {
		return false
	}
	status := sc.HTTPStatus()
	return status >= 500 || status == http.StatusTooManyRequests || status == http.StatusRequestTimeout
}

// retryWait is the first pause between attempts; it doubles after each,
// up to maxRetryWait while running (Connect's pauses go up to a minute).
const (
	retryWait    = 125 * time.Millisecond
	maxRetryWait = 4 * time.Second
)

// Client is a connection to one CouchDB server, shared by the state
// databases of the peer's channels. It is safe for concurrent use.
type Client struct {
	cfg  Config
	addr string // the server's URL without credentials, for messages
	log  *slog.Logger
	kc   *kivik.Client
	raw  *chttp.Client // for the requests kivik has no call for
	http *http.Client

	// apache is true for Apache CouchDB, false for another server with a
	// CouchDB-compatible API (PouchDB Server); bookmarks is true when the
	// server returns _find bookmarks (CouchDB 2.1 and later). Both are
	// decided once at Connect.
	apache, bookmarks bool

	cache *cache

	// mu guards exists.
	mu sync.Mutex
	// exists holds the databases known to exist, so each is created once.
	exists map[string]bool
}

// Connect reaches the server at cfg.Address (after cfg.WithDefaults()),
// retrying MaxRetriesOnStartup times with a doubling delay, and fails with
// an error naming the address and the last cause. Like Fabric, it then
// makes sure the system databases _users and _replicator exist (and
// _global_changes when asked), which also proves the credentials, and
// records the data format in the internal database.
func Connect(ctx context.Context, cfg Config) (*Client, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg.MaxRetries = max(0, cfg.MaxRetries)
	cfg.MaxRetriesOnStartup = max(0, cfg.MaxRetriesOnStartup)
	dsn, addr, user, pass, err := parseAddress(cfg.Address)
	if err != nil {
		return nil, err
	}
	if cfg.Username == "" && cfg.Password == "" {
		cfg.Username, cfg.Password = user, pass
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = 64
	transport.DialContext = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	hc := &http.Client{Timeout: cfg.RequestTimeout, Transport: transport}
	opts := []kivik.Option{
		couchdb.OptionHTTPClient(hc),
		couchdb.OptionNoRequestCompression(),
		couchdb.OptionUserAgent("weft"),
	}
	if cfg.Username != "" || cfg.Password != "" {
		opts = append(opts, couchdb.BasicAuth(cfg.Username, cfg.Password))
	}
	kc, err := kivik.New("couch", dsn, opts...)
	if err != nil {
		return nil, fmt.Errorf("CouchDB at %s: %w", addr, err)
	}
	raw, err := chttp.New(hc, dsn, multiOption(opts))
	if err != nil {
		return nil, fmt.Errorf("CouchDB at %s: %w", addr, err)
	}
	c := &Client{
		cfg:    cfg,
		addr:   addr,
		log:    cfg.Logger.With("couchdb", addr),
		kc:     kc,
		raw:    raw,
		http:   hc,
		cache:  newCache(cfg.CacheSizeMB),
		exists: map[string]bool{},
	}
	ver, err := c.reach(ctx)
	if err != nil {
		_ = kc.Close()
		return nil, err
	}
	if err := c.checkServer(ver); err != nil {
		_ = kc.Close()
		return nil, err
	}
	if err := c.prepare(ctx); err != nil {
		_ = kc.Close()
		return nil, err
	}
	return c, nil
}

// multiOption applies several kivik options as one.
type multiOption []kivik.Option

func (m multiOption) Apply(target any) {
	for _, o := range m {
		o.Apply(target)
	}
}

// parseAddress accepts host:port or a URL and returns the URL kivik is
// given, the URL shown in messages (no credentials) and any credentials it
// held.
func parseAddress(address string) (dsn, shown, user, pass string, err error) {
	a := strings.TrimSpace(address)
	if !strings.HasPrefix(a, "http://") && !strings.HasPrefix(a, "https://") {
		a = "http://" + a
	}
	u, err := url.Parse(a)
	if err != nil || u.Host == "" {
		return "", "", "", "", fmt.Errorf("couchdb: ledger.state.couchDBConfig.couchDBAddress %q is neither host:port nor a URL", address)
	}
	if u.User != nil {
		user = u.User.Username()
		pass, _ = u.User.Password()
		u.User = nil
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawQuery, u.Fragment = "", ""
	return u.String(), u.String(), user, pass, nil
}

// reach gets the server's welcome, retrying MaxRetriesOnStartup times.
func (c *Client) reach(ctx context.Context) (*kivik.ServerVersion, error) {
	wait := retryWait
	attempts := c.cfg.MaxRetriesOnStartup + 1
	var lastErr error
	for i := 1; ; i++ {
		rctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
		ver, err := c.kc.Version(rctx)
		cancel()
		if err == nil {
			return ver, nil
		}
		lastErr = err
		if kivik.HTTPStatus(err) == http.StatusUnauthorized || kivik.HTTPStatus(err) == http.StatusForbidden {
			return nil, fmt.Errorf("CouchDB at %s: the server refused the credentials (ledger.state.couchDBConfig.username/password): %w", c.addr, err)
		}
		if !transient(err) {
			// Something answered, and it is not CouchDB's welcome.
			return nil, &requestError{addr: c.addr, op: "connect (ledger.state.couchDBConfig.couchDBAddress)", attempts: i, err: err}
		}
		if i >= attempts || ctx.Err() != nil {
			break
		}
		c.log.Warn("couchdb not reachable, retrying", "attempt", i, "of", attempts, "retry_in", wait, "error", err)
		if !sleep(ctx, wait) {
			break
		}
		wait = min(2*wait, time.Minute)
	}
	if ctx.Err() != nil {
		lastErr = fmt.Errorf("%w (last error: %v)", ctx.Err(), lastErr)
	}
	return nil, &requestError{addr: c.addr, op: "connect (ledger.state.couchDBConfig.couchDBAddress)", attempts: attempts, transient: true, err: lastErr}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// checkServer refuses CouchDB before 2.0, as Fabric does, and decides how
// queries page: with _find bookmarks on CouchDB 2.1 and later, without on
// other servers (PouchDB Server, which answers a CouchDB-compatible API).
func (c *Client) checkServer(ver *kivik.ServerVersion) error {
	var welcome struct {
		CouchDB *string `json:"couchdb"`
	}
	_ = json.Unmarshal(ver.RawResponse, &welcome)
	if welcome.CouchDB == nil {
		c.log.Info("server is not Apache CouchDB; queries page without _find bookmarks", "version", ver.Version, "vendor", ver.Vendor)
		return nil
	}
	c.apache = true
	major, minor := parseVersion(ver.Version)
	if major < 2 {
		return fmt.Errorf("CouchDB at %s: version %s; Weft needs CouchDB 2.0 or later (3.1 or later recommended)", c.addr, ver.Version)
	}
	if major < 3 || major == 3 && minor < 1 {
		c.log.Warn("CouchDB versions before 3.1.0 are unsupported", "version", ver.Version)
	}
	c.bookmarks = major > 2 || minor >= 1
	return nil
}

func parseVersion(v string) (major, minor int) {
	parts := strings.SplitN(v, ".", 3)
	major, _ = strconv.Atoi(parts[0])
	if len(parts) > 1 {
		minor, _ = strconv.Atoi(parts[1])
	}
	return major, minor
}

// prepare creates the system databases and records the data format.
func (c *Client) prepare(ctx context.Context) error {
	system := []string{"_users", "_replicator"}
	if c.cfg.CreateGlobalChangesDB {
		system = append(system, "_global_changes")
	}
	for _, name := range system {
		if err := c.ensureDB(ctx, name, false); err != nil {
			return fmt.Errorf("%w (check ledger.state.couchDBConfig.username and password: they must be a server admin's)", err)
		}
	}
	internal := c.cfg.DatabasePrefix + internalDBName
	var doc struct {
		Version string `json:"Version"`
	}
	found, err := c.getJSON(ctx, internal, dataformatDocID, &doc)
	if err != nil {
		return err
	}
	if found {
		if doc.Version != currentDataformatVer {
			return fmt.Errorf("CouchDB at %s: database %s records data format %q, this peer writes %q", c.addr, internal, doc.Version, currentDataformatVer)
		}
		return nil
	}
	if err := c.ensureDB(ctx, internal, true); err != nil {
		return err
	}
	return c.call(ctx, "record data format in "+internal, func(ctx context.Context) error {
		_, err := c.kc.DB(internal).Put(ctx, dataformatDocID, map[string]string{"Version": currentDataformatVer})
		if kivik.HTTPStatus(err) == http.StatusConflict {
			return nil // written by an earlier attempt whose answer was lost
		}
		return err
	})
}

// call runs one request, retrying transient failures MaxRetries times with
// a doubling delay, each attempt bounded by RequestTimeout.
func (c *Client) call(ctx context.Context, op string, fn func(ctx context.Context) error) error {
	wait := retryWait
	attempts := 0
	var err error
	for {
		attempts++
		rctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
		err = fn(rctx)
		cancel()
		if err == nil {
			return nil
		}
		if !transient(err) || attempts > c.cfg.MaxRetries || ctx.Err() != nil {
			break
		}
		c.log.Warn("couchdb request failed, retrying", "op", op, "attempt", attempts, "of", c.cfg.MaxRetries+1, "retry_in", wait, "error", err)
		if !sleep(ctx, wait) {
			break
		}
		wait = min(2*wait, maxRetryWait)
	}
	return &requestError{addr: c.addr, op: op, attempts: attempts, transient: transient(err), err: err}
}

// ensureDB creates database name unless it is known to exist. restrict
// gives the configured user sole access to it, as Fabric does.
func (c *Client) ensureDB(ctx context.Context, name string, restrict bool) error {
	c.mu.Lock()
	known := c.exists[name]
	c.mu.Unlock()
	if known {
		return nil
	}
	err := c.call(ctx, "create database "+name, func(ctx context.Context) error {
		err := c.kc.CreateDB(ctx, name)
		if kivik.HTTPStatus(err) == http.StatusPreconditionFailed {
			return nil // it exists
		}
		return err
	})
	if err != nil {
		return err
	}
	if restrict && c.cfg.Username != "" {
		sec := &kivik.Security{
			Admins:  kivik.Members{Names: []string{c.cfg.Username}},
			Members: kivik.Members{Names: []string{c.cfg.Username}},
		}
		if err := c.call(ctx, "set security of "+name, func(ctx context.Context) error {
			return c.kc.DB(name).SetSecurity(ctx, sec)
		}); err != nil {
			return err
		}
	}
	c.mu.Lock()
	c.exists[name] = true
	c.mu.Unlock()
	return nil
}

// getJSON reads document id of database db into v; found is false when
// the document or the database does not exist.
func (c *Client) getJSON(ctx context.Context, db, id string, v any) (found bool, err error) {
	err = c.call(ctx, "read "+db+"/"+id, func(ctx context.Context) error {
		doc := c.kc.DB(db).Get(ctx, id)
		err := doc.ScanDoc(v)
		if kivik.HTTPStatus(err) == http.StatusNotFound {
			found = false
			return nil
		}
		found = err == nil
		return err
	})
	return found, err
}

// HealthCheck makes one request to the server's root, without retries, and
// returns an error naming CouchDB and its address when it fails.
func (c *Client) HealthCheck(ctx context.Context) error {
	rctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	if _, err := c.kc.Version(rctx); err != nil {
		return &requestError{addr: c.addr, op: "health check", attempts: 1, transient: transient(err), err: err}
	}
	return nil
}

// OpenChannel returns the state database of channel. It does no I/O: the
// channel's databases are created when first written.
func (c *Client) OpenChannel(channel string) (*DB, error) {
	limit := maxDBNameLength - len(c.cfg.DatabasePrefix)
	meta, err := checkDBName(metadataDBName(channel, limit), "channel "+strconv.Quote(channel))
	if err != nil {
		return nil, fmt.Errorf("couchdb: %w", err)
	}
	return newDB(c, channel, c.cfg.DatabasePrefix+meta), nil
}

// Close releases the client's connections. The DBs opened from it must
// not be used afterwards.
func (c *Client) Close() error {
	c.http.CloseIdleConnections()
	return c.kc.Close()
}
