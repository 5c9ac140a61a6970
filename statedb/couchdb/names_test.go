package couchdb

import (
	"strings"
	"testing"
)

func TestDatabaseNames(t *testing.T) {
	long := func(c byte, n int) string { return strings.Repeat(string(c), n) }
	for _, tc := range []struct {
		name, channel, ns, want string
	}{
		{"chaincode", "mychannel", "basic", "mychannel_basic"},
		{"lifecycle", "mychannel", "_lifecycle", "mychannel__lifecycle"},
		{"private collection", "mychannel", "marbles$$pcollectionMarbles", "mychannel_marbles$$pcollection$marbles"},
		{"hashed collection", "mychannel", "marbles$$hcollectionMarbles", "mychannel_marbles$$hcollection$marbles"},
		{"upper case chaincode", "mychannel", "Basic", "mychannel_$basic"},
		{"dot in channel", "my.channel", "basic", "my$channel_basic"},
		{
			"long names are cut and hashed", long('c', 60), long('n', 120) + "$$p" + long('x', 70),
			long('c', 50) + "_" + long('n', 50) + "$$" + "p" + long('x', 49) +
				"(" + sha256Hex(long('c', 60)+"_"+long('n', 120)+"$$p"+long('x', 70)) + ")",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := checkDBName(namespaceDBName(tc.channel, tc.ns, maxDBNameLength), "test")
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("database of %q in %q = %q, want %q", tc.ns, tc.channel, got, tc.want)
			}
			if len(got) > maxDBNameLength {
				t.Fatalf("name %q is %d long", got, len(got))
			}
		})
	}
	if got := metadataDBName("mychannel", maxDBNameLength); got != "mychannel_" {
		t.Fatalf("metadata database = %q", got)
	}
	ch := long('a', 240)
	if got, want := metadataDBName(ch, maxDBNameLength), long('a', 50)+"("+sha256Hex(ch)+")_"; got != want {
		t.Fatalf("long channel's metadata database = %q, want %q", got, want)
	}
	// A prefix takes its length from the limit: the same namespace is cut
	// sooner, and the result still fits.
	prefix := "peer0org1_"
	ns := long('n', 225)
	if got := namespaceDBName("mychannel", ns, maxDBNameLength); strings.Contains(got, "(") {
		t.Fatalf("name %q (%d) cut without a prefix", got, len(got))
	}
	got := prefix + namespaceDBName("mychannel", ns, maxDBNameLength-len(prefix))
	if len(got) > maxDBNameLength || !strings.Contains(got, "(") {
		t.Fatalf("prefixed long name %q (%d) not cut", got, len(got))
	}
	for _, bad := range []string{"a\x00", "ünï", "a b"} {
		if _, err := checkDBName(namespaceDBName("mychannel", bad, maxDBNameLength), "namespace "+bad); err == nil {
			t.Errorf("namespace %q accepted", bad)
		}
	}
}

func TestValidPrefix(t *testing.T) {
	for _, ok := range []string{"", "peer0_", "a", "w1234567890abcdef_x"} {
		if err := validPrefix(ok); err != nil {
			t.Errorf("validPrefix(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"Peer", "0peer", "peer.", "peer 0", strings.Repeat("p", 20)} {
		if err := validPrefix(bad); err == nil {
			t.Errorf("validPrefix(%q) accepted", bad)
		}
	}
}

func TestDocIDs(t *testing.T) {
	hash := "\x00\xff\x10 raw hash bytes \xfe"
	id, err := docID("cc$$hcoll", hash)
	if err != nil {
		t.Fatal(err)
	}
	if id != "AP8QIHJhdyBoYXNoIGJ5dGVzIP4=" {
		t.Fatalf("hashed key id = %q, want standard base64", id)
	}
	back, err := keyOf("cc$$hcoll", id)
	if err != nil || back != hash {
		t.Fatalf("keyOf = %q, %v", back, err)
	}
	for _, tc := range []struct {
		key string
		err error
	}{
		{"asset1", nil},
		{"a\x00b", nil},
		{"\x00composite\x00key\x00", nil},
		{"", errKeyEmpty},
		{"_design/x", errKeyUnderscore},
		{"bad\xff", errKeyNotUTF8},
	} {
		if _, err := docID("cc$$pcoll", tc.key); err != tc.err {
			t.Errorf("docID(%q) error = %v, want %v", tc.key, err, tc.err)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"abc", "abc"},
		{"ab\xff", "ab"},
		{"\xff", ""},
		{"é\xc3", "é"},
	} {
		if got := validFloor(tc.in); got != tc.want {
			t.Errorf("validFloor(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
