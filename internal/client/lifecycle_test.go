package client

import (
	"testing"

	lb "github.com/hyperledger/fabric-protos-go-apiv2/peer/lifecycle"
	"google.golang.org/protobuf/proto"
)

func TestCheckCommitReadinessAndQueryInstalledArgs(t *testing.T) {
	t.Parallel()
	def := Definition{Name: "basic", Version: "2.0", Sequence: 2, PackageID: "basic_2.0:ab", EndorsementPolicy: []byte{1, 2, 3}, InitRequired: true}
	args := CheckCommitReadinessArgs(def)
	if len(args) != 2 || string(args[0]) != "CheckCommitReadiness" {
		t.Fatalf("CheckCommitReadinessArgs function = %q (%d args)", args[0], len(args))
	}
	got := &lb.CheckCommitReadinessArgs{}
	if err := proto.Unmarshal(args[1], got); err != nil {
		t.Fatal(err)
	}
	want := &lb.CheckCommitReadinessArgs{Sequence: 2, Name: "basic", Version: "2.0", EndorsementPlugin: "escc", ValidationPlugin: "vscc", ValidationParameter: []byte{1, 2, 3}, InitRequired: true}
	if !proto.Equal(got, want) {
		t.Fatalf("CheckCommitReadinessArgs = %v, want %v", got, want)
	}
	// The same definition must ask about exactly what CommitArgs would commit.
	commit := &lb.CommitChaincodeDefinitionArgs{}
	if err := proto.Unmarshal(CommitArgs(def)[1], commit); err != nil {
		t.Fatal(err)
	}
	if commit.Sequence != got.Sequence || commit.Version != got.Version || commit.EndorsementPlugin != got.EndorsementPlugin ||
		commit.ValidationPlugin != got.ValidationPlugin || string(commit.ValidationParameter) != string(got.ValidationParameter) || commit.InitRequired != got.InitRequired {
		t.Fatalf("CheckCommitReadinessArgs %v differs from CommitArgs %v", got, commit)
	}

	qi := QueryInstalledArgs()
	if len(qi) != 2 || string(qi[0]) != "QueryInstalledChaincodes" || proto.Unmarshal(qi[1], &lb.QueryInstalledChaincodesArgs{}) != nil {
		t.Fatalf("QueryInstalledArgs = %q", qi)
	}
}
