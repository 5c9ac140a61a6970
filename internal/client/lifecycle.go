package client

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"time"

	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
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
	// EndorsementPlugin and ValidationPlugin default to Fabric's "escc" and "vscc".
	EndorsementPlugin string
	ValidationPlugin  string
	// Collections is the private data collection configuration; nil = none.
	Collections *pb.CollectionConfigPackage
}

func (d Definition) plugins() (string, string) {
	e, v := d.EndorsementPlugin, d.ValidationPlugin
	if e == "" {
		e = "escc"
	}
	if v == "" {
		v = "vscc"
	}
	return e, v
}

// InstallArgs returns the proposal arguments of _lifecycle.InstallChaincode.
func InstallArgs(pkg []byte) [][]byte {
	return [][]byte{[]byte("InstallChaincode"), protos.Marshal(&lb.InstallChaincodeArgs{ChaincodeInstallPackage: pkg})}
}

// ApproveArgs returns the proposal arguments of ApproveChaincodeDefinitionForMyOrg.
func ApproveArgs(d Definition) [][]byte {
	escc, vscc := d.plugins()
	args := &lb.ApproveChaincodeDefinitionForMyOrgArgs{
		Sequence:            d.Sequence,
		Name:                d.Name,
		Version:             d.Version,
		EndorsementPlugin:   escc,
		ValidationPlugin:    vscc,
		ValidationParameter: d.EndorsementPolicy,
		InitRequired:        d.InitRequired,
		Collections:         d.Collections,
		Source: &lb.ChaincodeSource{Type: &lb.ChaincodeSource_LocalPackage{
			LocalPackage: &lb.ChaincodeSource_Local{PackageId: d.PackageID},
		}},
	}
	return [][]byte{[]byte("ApproveChaincodeDefinitionForMyOrg"), protos.Marshal(args)}
}

// CommitArgs returns the proposal arguments of CommitChaincodeDefinition.
func CommitArgs(d Definition) [][]byte {
	escc, vscc := d.plugins()
	args := &lb.CommitChaincodeDefinitionArgs{
		Sequence:            d.Sequence,
		Name:                d.Name,
		Version:             d.Version,
		EndorsementPlugin:   escc,
		ValidationPlugin:    vscc,
		ValidationParameter: d.EndorsementPolicy,
		InitRequired:        d.InitRequired,
		Collections:         d.Collections,
	}
	return [][]byte{[]byte("CommitChaincodeDefinition"), protos.Marshal(args)}
}

// CheckCommitReadinessArgs returns the proposal arguments of CheckCommitReadiness
// for d (d.PackageID is not part of the question and is ignored).
func CheckCommitReadinessArgs(d Definition) [][]byte {
	escc, vscc := d.plugins()
	args := &lb.CheckCommitReadinessArgs{
		Sequence:            d.Sequence,
		Name:                d.Name,
		Version:             d.Version,
		EndorsementPlugin:   escc,
		ValidationPlugin:    vscc,
		ValidationParameter: d.EndorsementPolicy,
		InitRequired:        d.InitRequired,
		Collections:         d.Collections,
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

// QueryInstalledChaincodeArgs returns the proposal arguments of QueryInstalledChaincode.
func QueryInstalledChaincodeArgs(packageID string) [][]byte {
	return [][]byte{[]byte("QueryInstalledChaincode"), protos.Marshal(&lb.QueryInstalledChaincodeArgs{PackageId: packageID})}
}

// GetInstalledPackageArgs returns the proposal arguments of GetInstalledChaincodePackage.
func GetInstalledPackageArgs(packageID string) [][]byte {
	return [][]byte{[]byte("GetInstalledChaincodePackage"), protos.Marshal(&lb.GetInstalledChaincodePackageArgs{PackageId: packageID})}
}

// QueryApprovedArgs returns the proposal arguments of
// QueryApprovedChaincodeDefinition; sequence 0 asks for the latest approval.
func QueryApprovedArgs(name string, sequence int64) [][]byte {
	return [][]byte{[]byte("QueryApprovedChaincodeDefinition"), protos.Marshal(&lb.QueryApprovedChaincodeDefinitionArgs{Name: name, Sequence: sequence})}
}

// QueryCommittedAllArgs returns the proposal arguments of QueryChaincodeDefinitions.
func QueryCommittedAllArgs() [][]byte {
	return [][]byte{[]byte("QueryChaincodeDefinitions"), protos.Marshal(&lb.QueryChaincodeDefinitionsArgs{})}
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

// UntarGz reads the regular files of a gzipped tar (at most 100 MiB in all).
func UntarGz(raw []byte) (map[string][]byte, error) {
	gz, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("not gzip compressed: %w", err)
	}
	tr := tar.NewReader(gz)
	out := map[string][]byte{}
	var total int64
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read tar: %w", err)
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		b, err := io.ReadAll(io.LimitReader(tr, MaxMessageSize-total+1))
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", hdr.Name, err)
		}
		if total += int64(len(b)); total > MaxMessageSize {
			return nil, fmt.Errorf("archive holds more than %d bytes", MaxMessageSize)
		}
		out[hdr.Name] = b
	}
}
