package cli

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/internal/client"
	"github.com/weft-ledger/weft/msp"
	"github.com/weft-ledger/weft/protos"
)

// testEnv returns an Env whose Getenv reads vars, and its stdout and stderr.
func testEnv(vars map[string]string) (*Env, *bytes.Buffer, *bytes.Buffer) {
	var out, errOut bytes.Buffer
	return &Env{Stdout: &out, Stderr: &errOut, Getenv: func(k string) string { return vars[k] }}, &out, &errOut
}

func TestCtorArgs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    []string
		wantErr string
	}{
		{`{"Args":["ReadAsset","asset1"]}`, []string{"ReadAsset", "asset1"}, ""},
		{`{"function":"ReadAsset","Args":["asset1"]}`, []string{"ReadAsset", "asset1"}, ""},
		{`{"function":"InitLedger","Args":[]}`, []string{"InitLedger"}, ""},
		{`{"function":"InitLedger"}`, []string{"InitLedger"}, ""},
		{`{"Args":["CreateAsset","a1","blue","5","Tom","1300"]}`, []string{"CreateAsset", "a1", "blue", "5", "Tom", "1300"}, ""},
		{`{"Args":["Put","", "ünïcode"]}`, []string{"Put", "", "ünïcode"}, ""},
		{`{"Args":[]}`, nil, "-c names no function"},
		{`{}`, nil, "-c names no function"},
		{``, nil, "-c must be JSON"},
		{`ReadAsset asset1`, nil, "-c must be JSON"},
		{`{"Args":[1,2]}`, nil, "-c must be JSON"},
	}
	for _, tt := range tests {
		got, err := ctorArgs(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ctorArgs(%q) = %q, %v; want error %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ctorArgs(%q): %v", tt.in, err)
			continue
		}
		var s []string
		for _, a := range got {
			s = append(s, string(a))
		}
		if strings.Join(s, "\x00") != strings.Join(tt.want, "\x00") || len(s) != len(tt.want) {
			t.Errorf("ctorArgs(%q) = %q, want %q", tt.in, s, tt.want)
		}
	}
}

func TestDefinitionFlags(t *testing.T) {
	t.Parallel()
	base := []string{"-C", "mychannel", "--name", "basic", "-v", "1.0"}
	tests := []struct {
		name    string
		args    []string
		check   func(t *testing.T, def client.Definition, pol *pb.ApplicationPolicy)
		wantErr string
	}{
		{
			name: "defaults: no endorsement policy, sequence 1",
			args: base,
			check: func(t *testing.T, def client.Definition, pol *pb.ApplicationPolicy) {
				if def.Name != "basic" || def.Version != "1.0" || def.Sequence != 1 || def.InitRequired || def.EndorsementPolicy != nil {
					t.Fatalf("definition = %+v", def)
				}
			},
		},
		{
			name: "long flag names, package id, sequence, init",
			args: []string{"--channelID", "mychannel", "--name", "basic", "--version", "2.1", "--sequence", "3", "--package-id", "basic_1.0:abc", "--init-required"},
			check: func(t *testing.T, def client.Definition, pol *pb.ApplicationPolicy) {
				if def.Version != "2.1" || def.Sequence != 3 || def.PackageID != "basic_1.0:abc" || !def.InitRequired {
					t.Fatalf("definition = %+v", def)
				}
			},
		},
		{
			name: "signature policy",
			args: append(base, "--signature-policy", "AND('Org1MSP.peer','Org2MSP.peer')"),
			check: func(t *testing.T, def client.Definition, pol *pb.ApplicationPolicy) {
				want, err := channelconfig.ParsePolicyDSL("AND('Org1MSP.peer','Org2MSP.peer')")
				if err != nil {
					t.Fatal(err)
				}
				if !proto.Equal(pol.GetSignaturePolicy(), want) {
					t.Fatalf("signature policy = %v, want %v", pol.GetSignaturePolicy(), want)
				}
			},
		},
		{
			name: "channel config policy reference",
			args: append(base, "--channel-config-policy", "/Channel/Application/Endorsement"),
			check: func(t *testing.T, def client.Definition, pol *pb.ApplicationPolicy) {
				if pol.GetChannelConfigPolicyReference() != "/Channel/Application/Endorsement" || pol.GetSignaturePolicy() != nil {
					t.Fatalf("policy = %v", pol)
				}
			},
		},
		{
			name:    "both policies",
			args:    append(base, "--signature-policy", "OR('Org1MSP.peer')", "--channel-config-policy", "/Channel/Application/Endorsement"),
			wantErr: "either --signature-policy or --channel-config-policy",
		},
		{
			name:    "bad signature policy",
			args:    append(base, "--signature-policy", "AND('Org1MSP.peer'"),
			wantErr: "--signature-policy",
		},
		{name: "no channel", args: []string{"-n", "basic", "-v", "1"}, wantErr: "--channelID, --name and --version are required"},
		{name: "no name", args: []string{"-C", "c", "-v", "1"}, wantErr: "--channelID, --name and --version are required"},
		{name: "no version", args: []string{"-C", "c", "-n", "basic"}, wantErr: "--channelID, --name and --version are required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, _, _ := testEnv(nil)
			fs := newFlags(env, "test")
			d := addDefinitionFlags(fs)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			def, err := d.definition()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("definition() = %v, want error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var pol *pb.ApplicationPolicy
			if def.EndorsementPolicy != nil {
				pol = &pb.ApplicationPolicy{}
				if err := proto.Unmarshal(def.EndorsementPolicy, pol); err != nil {
					t.Fatalf("EndorsementPolicy is not an ApplicationPolicy: %v", err)
				}
			}
			tt.check(t, def, pol)
		})
	}
}

func TestPeerFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		vars    map[string]string
		want    []client.Endpoint
		wantErr []string
	}{
		{
			name:    "no flags and no CORE_PEER_ADDRESS",
			wantErr: []string{"CORE_PEER_ADDRESS"},
		},
		{
			name: "no flags: the CORE_PEER_ADDRESS peer",
			vars: map[string]string{"CORE_PEER_ADDRESS": "localhost:7051", "CORE_PEER_TLS_ENABLED": "TRUE", "CORE_PEER_TLS_ROOTCERT_FILE": "/ca.crt"},
			want: []client.Endpoint{{Address: "localhost:7051", TLS: true, RootCertFile: "/ca.crt"}},
		},
		{
			name: "tls: one root cert per peer, in order",
			args: []string{"--peerAddresses", "localhost:7051", "--tlsRootCertFiles", "/org1.crt", "--peerAddresses", "localhost:9051", "--tlsRootCertFiles", "/org2.crt"},
			vars: map[string]string{"CORE_PEER_TLS_ENABLED": "true"},
			want: []client.Endpoint{{Address: "localhost:7051", TLS: true, RootCertFile: "/org1.crt"}, {Address: "localhost:9051", TLS: true, RootCertFile: "/org2.crt"}},
		},
		{
			name:    "tls: missing root cert",
			args:    []string{"--peerAddresses", "localhost:7051", "--peerAddresses", "localhost:9051", "--tlsRootCertFiles", "/org1.crt"},
			vars:    map[string]string{"CORE_PEER_TLS_ENABLED": "true"},
			wantErr: []string{"--tlsRootCertFiles", "--peerAddresses", "got 1 and 2"},
		},
		{
			name: "no tls: root certs not needed",
			args: []string{"--peerAddresses", "localhost:7051", "--peerAddresses", "localhost:9051"},
			want: []client.Endpoint{{Address: "localhost:7051"}, {Address: "localhost:9051"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, _, _ := testEnv(tt.vars)
			fs := newFlags(env, "test")
			p := addPeerFlags(fs)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			got, err := p.endpoints(env)
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("endpoints() = %+v, want an error", got)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not mention %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("endpoints() = %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if got[i].Address != tt.want[i].Address || got[i].TLS != tt.want[i].TLS || got[i].RootCertFile != tt.want[i].RootCertFile {
					t.Errorf("endpoint %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestOrdererFlags(t *testing.T) {
	t.Parallel()
	env, _, _ := testEnv(nil)
	fs := newFlags(env, "test")
	o := addOrdererFlags(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if _, err := o.endpoint(); err == nil || !strings.Contains(err.Error(), "-o host:port") {
		t.Fatalf("endpoint() without -o = %v", err)
	}
	fs = newFlags(env, "test")
	o = addOrdererFlags(fs)
	if err := fs.Parse([]string{"-o", "localhost:7050", "--ordererTLSHostnameOverride", "orderer.example.com", "--tls", "--cafile", "/ca.pem"}); err != nil {
		t.Fatal(err)
	}
	e, err := o.endpoint()
	if err != nil || e.Address != "localhost:7050" || !e.TLS || e.RootCertFile != "/ca.pem" || e.HostOverride != "orderer.example.com" {
		t.Fatalf("endpoint() = %+v, %v", e, err)
	}
}

func TestRunUnknownCommand(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want string
	}{
		{nil, "no command given"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"channel", "leave", "-c", "x"}, `unknown command "channel leave -c x"`},
		{[]string{"chaincode"}, `unknown command "chaincode"`},
	}
	for _, tt := range tests {
		env, stdout, stderr := testEnv(nil)
		err := Run(context.Background(), env, tt.args)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Run(%q) = %v, want %q", tt.args, err, tt.want)
		}
		if !strings.Contains(stderr.String(), "Usage: weft COMMAND") || !strings.Contains(stderr.String(), "chaincode approveformyorg") {
			t.Errorf("Run(%q) did not print the usage with the command list: %q", tt.args, stderr.String())
		}
		if stdout.Len() != 0 {
			t.Errorf("Run(%q) wrote to stdout: %q", tt.args, stdout.String())
		}
	}
}

func TestRunHelpAndBadFlags(t *testing.T) {
	t.Parallel()
	env, _, stderr := testEnv(nil)
	if err := Run(context.Background(), env, []string{"chaincode", "invoke", "-h"}); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("chaincode invoke -h = %v, want flag.ErrHelp", err)
	}
	if !strings.Contains(stderr.String(), "-peerAddresses") {
		t.Errorf("help does not list --peerAddresses: %q", stderr.String())
	}
	for _, args := range [][]string{{"-h"}, {"--help"}, {"help"}, {"chaincode", "-h"}, {"lifecycle", "chaincode", "--help"}} {
		env, stdout, _ := testEnv(nil)
		if err := Run(context.Background(), env, args); !errors.Is(err, flag.ErrHelp) {
			t.Errorf("weft %q = %v, want flag.ErrHelp (exit 0)", args, err)
		}
		if !strings.Contains(stdout.String(), "chaincode queryinstalled") {
			t.Errorf("weft %q did not print the command list on stdout: %q", args, stdout.String())
		}
	}
	env, _, _ = testEnv(nil)
	if err := Run(context.Background(), env, []string{"genesis", "--no-such-flag"}); err == nil || !strings.Contains(err.Error(), "no-such-flag") {
		t.Fatalf("genesis --no-such-flag = %v", err)
	}
}

func TestCryptoGenerateAndGenesis(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	configtx, err := os.ReadFile(filepath.Join("..", "..", "sampleconfig", "configtx.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "configtx.yaml"), configtx, 0o644); err != nil {
		t.Fatal(err)
	}
	env, stdout, _ := testEnv(nil)
	ctx := context.Background()
	orgs := filepath.Join(dir, "organizations")
	if err := Run(ctx, env, []string{"crypto", "generate", "--config", filepath.Join("..", "..", "sampleconfig", "crypto-config.yaml"), "--output", orgs}); err != nil {
		t.Fatalf("crypto generate: %v", err)
	}
	if !strings.Contains(stdout.String(), orgs) {
		t.Errorf("crypto generate printed %q, want the output folder", stdout.String())
	}
	block := filepath.Join(dir, "mychannel.block")
	if err := Run(ctx, env, []string{"genesis", "--config", filepath.Join(dir, "configtx.yaml"), "--profile", "ChannelUsingRaft", "--channel", "mychannel", "--output", block}); err != nil {
		t.Fatalf("genesis: %v", err)
	}

	raw, err := os.ReadFile(block)
	if err != nil {
		t.Fatal(err)
	}
	b, err := protos.UnmarshalBlock(raw)
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := channelconfig.BundleFromBlock(b)
	if err != nil {
		t.Fatalf("genesis block does not load: %v", err)
	}
	if b.Header.Number != 0 || bundle.ChannelID() != "mychannel" || bundle.Application() == nil || bundle.Orderer() == nil {
		t.Fatalf("genesis block %d of channel %q (application %v, orderer %v)", b.Header.Number, bundle.ChannelID(), bundle.Application(), bundle.Orderer())
	}
	if got := strings.Join(bundle.MSPs().IDs(), ","); !strings.Contains(got, "Org1MSP") || !strings.Contains(got, "Org2MSP") || !strings.Contains(got, "OrdererMSP") {
		t.Fatalf("channel MSPs = %s", got)
	}

	// The generated admin is an Org1 member of the channel and satisfies its Writers.
	admin, err := msp.LoadSigningIdentity(filepath.Join(orgs, "peerOrganizations", "org1.example.com", "users", "Admin@org1.example.com", "msp"), "Org1MSP")
	if err != nil {
		t.Fatalf("load generated admin: %v", err)
	}
	ser, err := admin.Serialize()
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("hello")
	sig, err := admin.Sign(msg)
	if err != nil {
		t.Fatal(err)
	}
	writers, err := bundle.Policy("/Channel/Application/Writers")
	if err != nil {
		t.Fatal(err)
	}
	if err := writers.Evaluate([]protos.SignedData{{Data: msg, Identity: ser, Signature: sig}}); err != nil {
		t.Fatalf("generated Org1 admin does not satisfy the genesis block's Writers: %v", err)
	}

	t.Run("genesis needs its flags", func(t *testing.T) {
		env, _, _ := testEnv(nil)
		err := Run(ctx, env, []string{"genesis", "--config", filepath.Join(dir, "configtx.yaml")})
		if err == nil || !strings.Contains(err.Error(), "--profile, --channel and --output are required") {
			t.Fatalf("genesis without flags = %v", err)
		}
	})
	t.Run("genesis with an unknown profile", func(t *testing.T) {
		env, _, _ := testEnv(nil)
		err := Run(ctx, env, []string{"genesis", "--config", filepath.Join(dir, "configtx.yaml"), "--profile", "NoSuchProfile", "--channel", "c", "--output", filepath.Join(dir, "x.block")})
		if err == nil || !strings.Contains(err.Error(), "NoSuchProfile") {
			t.Fatalf("genesis with an unknown profile = %v", err)
		}
		if _, err := os.Stat(filepath.Join(dir, "x.block")); err == nil {
			t.Fatal("a failed genesis wrote its output file")
		}
	})
	t.Run("crypto generate with a missing config", func(t *testing.T) {
		env, _, _ := testEnv(nil)
		err := Run(ctx, env, []string{"crypto", "generate", "--config", filepath.Join(dir, "nope.yaml"), "--output", filepath.Join(dir, "out")})
		if err == nil || !strings.Contains(err.Error(), "nope.yaml") {
			t.Fatalf("crypto generate with a missing config = %v", err)
		}
	})

	t.Run("peer commands name the missing CORE_PEER variables", func(t *testing.T) {
		adminMSP := filepath.Join(orgs, "peerOrganizations", "org1.example.com", "users", "Admin@org1.example.com", "msp")
		withIdentity := map[string]string{"CORE_PEER_LOCALMSPID": "Org1MSP", "CORE_PEER_MSPCONFIGPATH": adminMSP}
		tests := []struct {
			name string
			args []string
			vars map[string]string
			want []string
		}{
			{"channel list without identity", []string{"channel", "list"}, nil, []string{"CORE_PEER_LOCALMSPID", "CORE_PEER_MSPCONFIGPATH"}},
			{"channel list with only the msp id", []string{"channel", "list"}, map[string]string{"CORE_PEER_LOCALMSPID": "Org1MSP"}, []string{"CORE_PEER_MSPCONFIGPATH"}},
			{"channel list without address", []string{"channel", "list"}, withIdentity, []string{"CORE_PEER_ADDRESS"}},
			{"channel join without address", []string{"channel", "join", "-b", block}, withIdentity, []string{"CORE_PEER_ADDRESS"}},
			{"channel getinfo without identity", []string{"channel", "getinfo", "-c", "mychannel"}, nil, []string{"CORE_PEER_LOCALMSPID", "CORE_PEER_MSPCONFIGPATH"}},
			{"query without address", []string{"chaincode", "query", "-C", "mychannel", "-n", "basic", "-c", `{"Args":["GetAllAssets"]}`}, withIdentity, []string{"CORE_PEER_ADDRESS"}},
			{"install without identity", []string{"chaincode", "install", block}, nil, []string{"CORE_PEER_LOCALMSPID"}},
			{"invoke without peer", []string{"chaincode", "invoke", "-o", "localhost:7050", "-C", "c", "-n", "basic", "-c", `{"Args":["InitLedger"]}`}, withIdentity, []string{"CORE_PEER_ADDRESS"}},
		}
		for _, tt := range tests {
			env, _, _ := testEnv(tt.vars)
			err := Run(ctx, env, tt.args)
			if err == nil {
				t.Errorf("%s: no error", tt.name)
				continue
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%s: error %q does not name %s", tt.name, err, w)
				}
			}
		}
	})
}

func TestCommandArgumentErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"channel", "join"}, "-b FILE"},
		{[]string{"chaincode", "install"}, "usage: weft chaincode install"},
		{[]string{"chaincode", "package", "out.tar.gz", "--path", "x"}, "--label"},
		{[]string{"chaincode", "package", "a.tar.gz", "--label", "l", "--path", "x", "b.tar.gz"}, "usage: weft chaincode package OUTPUT.tar.gz"},
		{[]string{"chaincode", "package", "out.tar.gz", "--path", "x", "--label", "l", "--lang", "java"}, `--lang "java" is not supported`},
		{[]string{"chaincode", "querycommitted", "-n", "basic"}, "usage: weft chaincode querycommitted -C CHANNEL"},
		{[]string{"chaincode", "query", "-C", "c", "-n", "basic"}, "-c must be JSON"},
		{[]string{"chaincode", "invoke", "-C", "c", "-n", "basic", "-c", `{"Args":["f"]}`}, "-o host:port"},
		{[]string{"chaincode", "approveformyorg", "-C", "c", "-n", "basic", "-v", "1"}, "--package-id is required"},
		{[]string{"chaincode", "commit", "-C", "c", "-n", "basic"}, "--version are required"},
		{[]string{"osnadmin", "channel", "list"}, "admin endpoint with -o"},
		{[]string{"osnadmin", "channel", "remove", "-o", "localhost:7053"}, "--channelID"},
		{[]string{"osnadmin", "channel", "join", "-o", "localhost:7053", "--config-block", "/no/such/block"}, "read config block"},
		{[]string{"bench", "--pid", "couchdb"}, "--pid \"couchdb\": give NAME=PID"},
		{[]string{"bench", "--couchdb", "http://127.0.0.1:5984", "--msp", "x"}, "--couchdb chooses the state database of the network --devnet starts"},
		{[]string{"bench", "--devnet", "--bin", "/no/such/bin", "--couchdb", "http://a:1,http://b:1,http://c:1"}, "--couchdb: 3 CouchDB URLs for 2 peers"},
	}
	for _, tt := range tests {
		env, _, _ := testEnv(nil)
		err := Run(context.Background(), env, tt.args)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Run(%q) = %v, want an error containing %q", tt.args, err, tt.want)
		}
	}
}

func TestChaincodePackageCCaaS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "connection.json"), []byte(`{"address":"basic:9999","dial_timeout":"10s","tls_required":false}`), 0o644); err != nil {
		t.Fatal(err)
	}
	// Fabric's order (output first, then flags) and flags first both work.
	pack := func(out string, outputFirst bool) ([]byte, string) {
		flags := []string{"--path", dir, "--lang", "ccaas", "--label", "basic_1.0"}
		args := append(append([]string{"chaincode", "package"}, flags...), out)
		if outputFirst {
			args = append([]string{"chaincode", "package", out}, flags...)
		}
		env, stdout, _ := testEnv(nil)
		if err := Run(context.Background(), env, args); err != nil {
			t.Fatalf("weft %s: %v", strings.Join(args, " "), err)
		}
		raw, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		return raw, stdout.String()
	}
	a, outA := pack(filepath.Join(dir, "a.tar.gz"), true)
	b, _ := pack(filepath.Join(dir, "b.tar.gz"), false)
	if !bytes.Equal(a, b) {
		t.Fatal("packaging the same folder twice gave different bytes")
	}
	id := client.PackageID("basic_1.0", a)
	if !strings.Contains(outA, id) {
		t.Fatalf("package printed %q, want package ID %s", outA, id)
	}
	env, _, _ := testEnv(nil)
	err := Run(context.Background(), env, []string{"chaincode", "package", filepath.Join(dir, "c.tar.gz"), "--path", t.TempDir(), "--lang", "ccaas", "--label", "x"})
	if err == nil || !strings.Contains(err.Error(), "connection.json") {
		t.Fatalf("ccaas package without connection.json = %v", err)
	}
}

func TestChaincodePackageGolang(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	for name, body := range map[string]string{"main.go": "package main\n", "go.mod": "module basic\n", "lib/asset.go": "package lib\n"} {
		p := filepath.Join(src, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(t.TempDir(), "basic.tar.gz")
	env, _, _ := testEnv(nil)
	if err := Run(context.Background(), env, []string{"chaincode", "package", out, "--path", src, "--label", "basic_1.0"}); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	outer := untarFiles(t, raw)
	var md map[string]string
	if err := json.Unmarshal(outer["metadata.json"], &md); err != nil {
		t.Fatalf("metadata.json: %v", err)
	}
	if md["type"] != "golang" || md["label"] != "basic_1.0" || md["path"] != src {
		t.Fatalf("metadata.json = %v", md)
	}
	code := untarFiles(t, outer["code.tar.gz"])
	if len(code) != 3 || string(code["src/main.go"]) != "package main\n" || string(code["src/lib/asset.go"]) != "package lib\n" || string(code["src/go.mod"]) != "module basic\n" {
		t.Fatalf("code.tar.gz holds %v, want the three source files under src/", code)
	}
}

// untarFiles returns the regular files of a tar.gz by name.
func untarFiles(t *testing.T, raw []byte) map[string][]byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	out := map[string][]byte{}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out[hdr.Name] = body
	}
}

func TestQueryInstalledAndCheckCommitReadinessArgumentErrors(t *testing.T) {
	t.Parallel()
	ccr := []string{"chaincode", "checkcommitreadiness"}
	full := append(append([]string{}, ccr...), "-C", "mychannel", "-n", "basic", "-v", "1.0", "--sequence", "2")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"queryinstalled takes no arguments", []string{"chaincode", "queryinstalled", "extra"}, "usage: weft chaincode queryinstalled"},
		{"queryinstalled unknown flag", []string{"chaincode", "queryinstalled", "-C", "mychannel"}, "flag provided but not defined: -C"},
		{"queryinstalled needs an identity", []string{"chaincode", "queryinstalled"}, "CORE_PEER_LOCALMSPID"},
		{"checkcommitreadiness no channel", append(append([]string{}, ccr...), "-n", "basic", "-v", "1"), "--channelID, --name and --version are required"},
		{"checkcommitreadiness no name", append(append([]string{}, ccr...), "--channelID", "c", "--version", "1"), "--channelID, --name and --version are required"},
		{"checkcommitreadiness no version", append(append([]string{}, ccr...), "-C", "c", "--name", "basic"), "--channelID, --name and --version are required"},
		{"checkcommitreadiness has no --package-id", append(append([]string{}, full...), "--package-id", "basic_1.0:ab"), "flag provided but not defined: -package-id"},
		{"checkcommitreadiness has no --waitForEvent", append(append([]string{}, full...), "--waitForEvent"), "flag provided but not defined: -waitForEvent"},
		{"checkcommitreadiness bad sequence", append(append([]string{}, ccr...), "-C", "c", "-n", "b", "-v", "1", "--sequence", "two"), "invalid value \"two\" for flag -sequence"},
		{"checkcommitreadiness both policies", append(append([]string{}, full...), "--signature-policy", "OR('Org1MSP.peer')", "--channel-config-policy", "/Channel/Application/Endorsement"), "either --signature-policy or --channel-config-policy"},
		{"checkcommitreadiness bad policy", append(append([]string{}, full...), "--signature-policy", "OR('Org1MSP.peer'"), "--signature-policy"},
		{"checkcommitreadiness stray argument", append(append([]string{}, full...), "extra"), "takes only flags"},
		{"checkcommitreadiness needs an identity", append(append([]string{}, full...), "--init-required", "--channel-config-policy", "/Channel/Application/Endorsement"), "CORE_PEER_LOCALMSPID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, stdout, _ := testEnv(nil)
			err := Run(context.Background(), env, tt.args)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Run(%q) = %v, want an error containing %q", tt.args, err, tt.want)
			}
			if stdout.Len() != 0 {
				t.Errorf("Run(%q) wrote to stdout on error: %q", tt.args, stdout.String())
			}
		})
	}
}

func TestQueryInstalledAndCheckCommitReadinessNeedAPeer(t *testing.T) {
	t.Parallel()
	// With an identity but no CORE_PEER_ADDRESS, both commands say which variable to set.
	msps := filepath.Join(t.TempDir(), "orgs")
	genv, _, _ := testEnv(nil)
	if err := Run(context.Background(), genv, []string{"crypto", "generate", "--config", filepath.Join("..", "..", "sampleconfig", "crypto-config.yaml"), "--output", msps}); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{
		"CORE_PEER_LOCALMSPID":    "Org1MSP",
		"CORE_PEER_MSPCONFIGPATH": filepath.Join(msps, "peerOrganizations", "org1.example.com", "users", "Admin@org1.example.com", "msp"),
	}
	for _, args := range [][]string{
		{"chaincode", "queryinstalled"},
		{"chaincode", "checkcommitreadiness", "-C", "mychannel", "-n", "basic", "-v", "1.0", "--sequence", "2"},
	} {
		env, _, _ := testEnv(vars)
		if err := Run(context.Background(), env, args); err == nil || !strings.Contains(err.Error(), "CORE_PEER_ADDRESS") {
			t.Errorf("Run(%q) without CORE_PEER_ADDRESS = %v, want an error naming CORE_PEER_ADDRESS", args, err)
		}
	}
}

// TestChaincodePackageMetaInf checks that the chaincode folder's META-INF
// (CouchDB index definitions) goes to the root of code.tar.gz, where
// Fabric's packager puts it and peers look for it, for Go and CCaaS
// packages alike, without its hidden files.
func TestChaincodePackageMetaInf(t *testing.T) {
	t.Parallel()
	const index = `{"index":{"fields":["owner"]},"ddoc":"indexOwnerDoc","name":"indexOwner","type":"json"}`
	src := t.TempDir()
	for name, body := range map[string]string{
		"main.go": "package main\n", "go.mod": "module marbles\n",
		"connection.json": `{"address":"marbles:9999"}`,
		"META-INF/statedb/couchdb/indexes/indexOwner.json":                                   index,
		"META-INF/statedb/couchdb/indexes/.DS_Store":                                         "x",
		"META-INF/statedb/couchdb/collections/collectionMarbles/indexes/indexCollOwner.json": index,
		"lib/META-INF/not-metadata.txt":                                                      "only the top folder's META-INF is metadata",
	} {
		p := filepath.Join(src, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, lang := range []string{"golang", "ccaas"} {
		out := filepath.Join(t.TempDir(), "marbles.tar.gz")
		env, _, _ := testEnv(nil)
		if err := Run(context.Background(), env, []string{"chaincode", "package", out, "--path", src, "--lang", lang, "--label", "marbles_1"}); err != nil {
			t.Fatalf("%s: %v", lang, err)
		}
		raw, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		code := untarFiles(t, untarFiles(t, raw)["code.tar.gz"])
		for _, name := range []string{"META-INF/statedb/couchdb/indexes/indexOwner.json", "META-INF/statedb/couchdb/collections/collectionMarbles/indexes/indexCollOwner.json"} {
			if string(code[name]) != index {
				t.Errorf("%s: code.tar.gz has %q = %q, want the index", lang, name, code[name])
			}
		}
		for name := range code {
			if strings.HasPrefix(name, "src/META-INF") || strings.HasSuffix(name, ".DS_Store") {
				t.Errorf("%s: code.tar.gz holds %s", lang, name)
			}
		}
		if lang == "golang" && code["src/lib/META-INF/not-metadata.txt"] == nil {
			t.Errorf("golang: a META-INF below the top folder was not kept as source: %v", code)
		}
	}
}
