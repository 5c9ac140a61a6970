package client

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	lb "github.com/hyperledger/fabric-protos-go-apiv2/peer/lifecycle"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/protos"
)

// Names of the peer's system chaincodes and their functions, as Fabric's CLI sends them.
const (
	LifecycleName = "_lifecycle"
	CSCCName      = "cscc"
	QSCCName      = "qscc"
)

// Definition is a chaincode definition as `peer lifecycle chaincode approveformyorg`
// and `commit` take it.
type Definition struct {
	Name              string
	Version           string
	Sequence          int64
	PackageID         string // approve only
	EndorsementPolicy []byte // marshalled pb.ApplicationPolicy; nil = the channel's default
	InitRequired      bool
}

// InstallArgs returns the proposal arguments of _lifecycle.InstallChaincode.
func InstallArgs(pkg []byte) [][]byte {
	return [][]byte{[]byte("InstallChaincode"), protos.Marshal(&lb.InstallChaincodeArgs{ChaincodeInstallPackage: pkg})}
}

// ApproveArgs returns the proposal arguments of ApproveChaincodeDefinitionForMyOrg.
func ApproveArgs(d Definition) [][]byte {
	args := &lb.ApproveChaincodeDefinitionForMyOrgArgs{
		Sequence:            d.Sequence,
		Name:                d.Name,
		Version:             d.Version,
		EndorsementPlugin:   "escc",
		ValidationPlugin:    "vscc",
		ValidationParameter: d.EndorsementPolicy,
		InitRequired:        d.InitRequired,
		Source: &lb.ChaincodeSource{Type: &lb.ChaincodeSource_LocalPackage{
			LocalPackage: &lb.ChaincodeSource_Local{PackageId: d.PackageID},
		}},
	}
	return [][]byte{[]byte("ApproveChaincodeDefinitionForMyOrg"), protos.Marshal(args)}
}

// CommitArgs returns the proposal arguments of CommitChaincodeDefinition.
func CommitArgs(d Definition) [][]byte {
	args := &lb.CommitChaincodeDefinitionArgs{
		Sequence:            d.Sequence,
		Name:                d.Name,
		Version:             d.Version,
		EndorsementPlugin:   "escc",
		ValidationPlugin:    "vscc",
		ValidationParameter: d.EndorsementPolicy,
		InitRequired:        d.InitRequired,
	}
	return [][]byte{[]byte("CommitChaincodeDefinition"), protos.Marshal(args)}
}

// CheckCommitReadinessArgs returns the proposal arguments of CheckCommitReadiness
// for d (d.PackageID is not part of the question and is ignored).
func CheckCommitReadinessArgs(d Definition) [][]byte {
	args := &lb.CheckCommitReadinessArgs{
		Sequence:            d.Sequence,
		Name:                d.Name,
		Version:             d.Version,
		EndorsementPlugin:   "escc",
		ValidationPlugin:    "vscc",
		ValidationParameter: d.EndorsementPolicy,
		InitRequired:        d.InitRequired,
	}
	return [][]byte{[]byte("CheckCommitReadiness"), protos.Marshal(args)}
}

// QueryInstalledArgs returns the proposal arguments of QueryInstalledChaincodes.
func QueryInstalledArgs() [][]byte {
	return [][]byte{[]byte("QueryInstalledChaincodes"), protos.Marshal(&lb.QueryInstalledChaincodesArgs{})}
}

// QueryCommittedArgs returns the proposal arguments of QueryChaincodeDefinition.
func QueryCommittedArgs(name string) [][]byte {
	return [][]byte{[]byte("QueryChaincodeDefinition"), protos.Marshal(&lb.QueryChaincodeDefinitionArgs{Name: name})}
}

// InstallResult decodes the answer of InstallChaincode.
func InstallResult(payload []byte) (*lb.InstallChaincodeResult, error) {
	r := &lb.InstallChaincodeResult{}
	if err := proto.Unmarshal(payload, r); err != nil {
		return nil, fmt.Errorf("decode InstallChaincodeResult: %w", err)
	}
	return r, nil
}

// PackageID returns Fabric's package ID of a chaincode package: label:sha256.
func PackageID(label string, pkg []byte) string {
	sum := sha256.Sum256(pkg)
	return label + ":" + hex.EncodeToString(sum[:])
}

// ConnectionJSON is the connection.json of a chaincode-as-a-service package.
type ConnectionJSON struct {
	Address            string `json:"address"`
	DialTimeout        string `json:"dial_timeout"`
	TLSRequired        bool   `json:"tls_required"`
	ClientAuthRequired bool   `json:"client_auth_required,omitempty"`
	ClientKey          string `json:"client_key,omitempty"`
	ClientCert         string `json:"client_cert,omitempty"`
	RootCert           string `json:"root_cert,omitempty"`
}

// CCaaSPackage builds a deterministic chaincode-as-a-service package (same input,
// same bytes, same package ID) in Fabric's format: a tar.gz holding
// metadata.json {type: ccaas, label} and code.tar.gz with connection.json.
func CCaaSPackage(label string, conn ConnectionJSON) ([]byte, error) {
	cj, err := json.Marshal(conn)
	if err != nil {
		return nil, err
	}
	code, err := TarGz(map[string][]byte{"connection.json": cj})
	if err != nil {
		return nil, err
	}
	md, err := json.Marshal(map[string]string{"type": "ccaas", "label": label})
	if err != nil {
		return nil, err
	}
	return TarGz(map[string][]byte{"metadata.json": md, "code.tar.gz": code})
}

// TarGz writes files (in sorted order, fixed modes and times) into a gzipped tar.
func TarGz(files map[string][]byte) ([]byte, error) {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, n := range names {
		hdr := &tar.Header{Name: n, Mode: 0o644, Size: int64(len(files[n])), ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(files[n]); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
