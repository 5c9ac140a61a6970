package peer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weft-ledger/weft/statedb/couchdb"
)

// Fabric's environment names choose CouchDB and set every key of
// ledger.state.couchDBConfig, Weft's databasePrefix included.
func TestLoadConfigCouchDBFromEnv(t *testing.T) {
	dir := configDir(t)
	for k, v := range map[string]string{
		"CORE_LEDGER_STATE_STATEDATABASE":                         "CouchDB",
		"CORE_LEDGER_STATE_TOTALQUERYLIMIT":                       "5000",
		"CORE_LEDGER_STATE_COUCHDBCONFIG_COUCHDBADDRESS":          "couchdb0:5984",
		"CORE_LEDGER_STATE_COUCHDBCONFIG_USERNAME":                "admin",
		"CORE_LEDGER_STATE_COUCHDBCONFIG_PASSWORD":                "s3cret",
		"CORE_LEDGER_STATE_COUCHDBCONFIG_MAXRETRIES":              "5",
		"CORE_LEDGER_STATE_COUCHDBCONFIG_MAXRETRIESONSTARTUP":     "2",
		"CORE_LEDGER_STATE_COUCHDBCONFIG_REQUESTTIMEOUT":          "7s",
		"CORE_LEDGER_STATE_COUCHDBCONFIG_INTERNALQUERYLIMIT":      "250",
		"CORE_LEDGER_STATE_COUCHDBCONFIG_MAXBATCHUPDATESIZE":      "100",
		"CORE_LEDGER_STATE_COUCHDBCONFIG_WARMINDEXESAFTERNBLOCKS": "4",
		"CORE_LEDGER_STATE_COUCHDBCONFIG_CREATEGLOBALCHANGESDB":   "true",
		"CORE_LEDGER_STATE_COUCHDBCONFIG_CACHESIZE":               "0",
		"CORE_LEDGER_STATE_COUCHDBCONFIG_DATABASEPREFIX":          "peer0org1_",
	} {
		t.Setenv(k, v)
	}
	cfg, err := LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := LedgerConfig{StateDatabase: StateCouchDB, TotalQueryLimit: 5000, CouchDB: couchdb.Config{
		Address: "couchdb0:5984", Username: "admin", Password: "s3cret", MaxRetries: 5, MaxRetriesOnStartup: 2,
		RequestTimeout: 7 * time.Second, InternalQueryLimit: 250, TotalQueryLimit: 5000, MaxBatchUpdateSize: 100,
		WarmIndexesAfterNBlocks: 4, CreateGlobalChangesDB: true, CacheSizeMB: 0, DatabasePrefix: "peer0org1_",
	}}
	if cfg.Ledger != want {
		t.Fatalf("Ledger =\n%+v\nwant\n%+v", cfg.Ledger, want)
	}
	if !cfg.Ledger.UsesCouchDB() {
		t.Fatal("UsesCouchDB() = false")
	}
}

// A core.yaml without a ledger section (one written before it existed)
// gets Fabric's defaults and LevelDB.
func TestLoadConfigWithoutLedgerSection(t *testing.T) {
	dir := configDir(t)
	raw, err := os.ReadFile(filepath.Join(dir, "core.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(raw)
	start, end := strings.Index(s, "\nledger:\n"), strings.Index(s, "\noperations:\n")
	if start < 0 || end < start {
		t.Fatal("sample core.yaml has no ledger section before operations")
	}
	if err := os.WriteFile(filepath.Join(dir, "core.yaml"), []byte(s[:start]+s[end:]), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	l := cfg.Ledger
	if l.StateDatabase != StateGoLevelDB || l.UsesCouchDB() || l.TotalQueryLimit != 100000 || l.CouchDB.MaxRetriesOnStartup != 10 ||
		l.CouchDB.RequestTimeout != 35*time.Second || l.CouchDB.CacheSizeMB != 64 || l.CouchDB.Address != "" {
		t.Fatalf("Ledger without a ledger section = %+v", l)
	}
}

// Every refusal names the key and its environment variable and says what
// to write instead.
func TestLoadConfigLedgerErrors(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"unknown state database", map[string]string{"CORE_LEDGER_STATE_STATEDATABASE": "mongodb"},
			[]string{`ledger.state.stateDatabase (CORE_LEDGER_STATE_STATEDATABASE) = "mongodb": use goleveldb or CouchDB`}},
		{"wrong case", map[string]string{"CORE_LEDGER_STATE_STATEDATABASE": "couchdb"},
			[]string{`= "couchdb": use goleveldb or CouchDB`, "case-sensitive, as in Fabric: did you mean CouchDB?"}},
		{"CouchDB without an address", map[string]string{"CORE_LEDGER_STATE_STATEDATABASE": "CouchDB", "CORE_LEDGER_STATE_COUCHDBCONFIG_COUCHDBADDRESS": " "},
			[]string{"ledger.state.couchDBConfig.couchDBAddress (CORE_LEDGER_STATE_COUCHDBCONFIG_COUCHDBADDRESS) is empty, but ledger.state.stateDatabase is CouchDB"}},
		{"address without a port", map[string]string{"CORE_LEDGER_STATE_STATEDATABASE": "CouchDB", "CORE_LEDGER_STATE_COUCHDBCONFIG_COUCHDBADDRESS": "couchdb"},
			[]string{`couchDBAddress (CORE_LEDGER_STATE_COUCHDBCONFIG_COUCHDBADDRESS) = "couchdb" is not host:port or an http(s) URL`}},
		{"credentials in the address", map[string]string{"CORE_LEDGER_STATE_STATEDATABASE": "CouchDB", "CORE_LEDGER_STATE_COUCHDBCONFIG_COUCHDBADDRESS": "http://admin:pw@127.0.0.1:5984"},
			[]string{"couchDBAddress (CORE_LEDGER_STATE_COUCHDBCONFIG_COUCHDBADDRESS) holds credentials: put them in ledger.state.couchDBConfig.username"}},
		{"negative limits", map[string]string{"CORE_LEDGER_STATE_STATEDATABASE": "CouchDB",
			"CORE_LEDGER_STATE_COUCHDBCONFIG_MAXBATCHUPDATESIZE": "-1", "CORE_LEDGER_STATE_COUCHDBCONFIG_INTERNALQUERYLIMIT": "-5",
			"CORE_LEDGER_STATE_TOTALQUERYLIMIT": "-2", "CORE_LEDGER_STATE_COUCHDBCONFIG_REQUESTTIMEOUT": "-1s"},
			[]string{"maxBatchUpdateSize (CORE_LEDGER_STATE_COUCHDBCONFIG_MAXBATCHUPDATESIZE) = -1: use 0 or a positive number of documents",
				"internalQueryLimit (CORE_LEDGER_STATE_COUCHDBCONFIG_INTERNALQUERYLIMIT) = -5",
				"ledger.state.totalQueryLimit (CORE_LEDGER_STATE_TOTALQUERYLIMIT) = -2",
				"requestTimeout (CORE_LEDGER_STATE_COUCHDBCONFIG_REQUESTTIMEOUT) = -1s"}},
		{"not a number", map[string]string{"CORE_LEDGER_STATE_COUCHDBCONFIG_MAXRETRIES": "three", "CORE_LEDGER_STATE_COUCHDBCONFIG_REQUESTTIMEOUT": "35"},
			[]string{`maxRetries (CORE_LEDGER_STATE_COUCHDBCONFIG_MAXRETRIES) = "three" is not a whole number`,
				`requestTimeout (CORE_LEDGER_STATE_COUCHDBCONFIG_REQUESTTIMEOUT) = "35" is not a duration such as 35s`}},
		{"totalQueryLimit in the wrong section", map[string]string{"CORE_LEDGER_STATE_COUCHDBCONFIG_TOTALQUERYLIMIT": "10"},
			[]string{"the limit is ledger.state.totalQueryLimit (CORE_LEDGER_STATE_TOTALQUERYLIMIT)"}},
		{"bad database prefix", map[string]string{"CORE_LEDGER_STATE_STATEDATABASE": "CouchDB", "CORE_LEDGER_STATE_COUCHDBCONFIG_DATABASEPREFIX": "Peer0."},
			[]string{`databasePrefix (CORE_LEDGER_STATE_COUCHDBCONFIG_DATABASEPREFIX) = "Peer0.": a prefix of CouchDB database names starts with a lower-case letter`}},
		{"username without password", map[string]string{"CORE_LEDGER_STATE_STATEDATABASE": "CouchDB", "CORE_LEDGER_STATE_COUCHDBCONFIG_USERNAME": "admin"},
			[]string{"give both or neither"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := configDir(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			_, err := LoadConfig(dir)
			if err == nil {
				t.Fatal("LoadConfig accepted it")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
			if strings.Contains(err.Error(), "pw@") {
				t.Errorf("error repeats the credentials: %v", err)
			}
		})
	}
	// A LevelDB peer does not care what its unused CouchDB section holds,
	// as in Fabric.
	t.Run("couchDBConfig unused on goleveldb", func(t *testing.T) {
		dir := configDir(t)
		t.Setenv("CORE_LEDGER_STATE_COUCHDBCONFIG_COUCHDBADDRESS", "")
		t.Setenv("CORE_LEDGER_STATE_COUCHDBCONFIG_MAXRETRIES", "-1")
		if _, err := LoadConfig(dir); err != nil {
			t.Fatal(err)
		}
	})
	// The other accepted address form: an http(s) URL.
	t.Run("http URL", func(t *testing.T) {
		dir := configDir(t)
		t.Setenv("CORE_LEDGER_STATE_STATEDATABASE", "CouchDB")
		t.Setenv("CORE_LEDGER_STATE_COUCHDBCONFIG_COUCHDBADDRESS", "https://couch.example.com:6984")
		if _, err := LoadConfig(dir); err != nil {
			t.Fatal(err)
		}
	})
}
