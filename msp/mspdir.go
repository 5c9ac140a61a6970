package msp

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	mspproto "github.com/hyperledger/fabric-protos-go-apiv2/msp"
	"gopkg.in/yaml.v3"
)

// Folder and file names of an MSP folder (Fabric's layout).
const (
	dirCACerts              = "cacerts"
	dirAdminCerts           = "admincerts"
	dirIntermediateCerts    = "intermediatecerts"
	dirTLSCACerts           = "tlscacerts"
	dirTLSIntermediateCerts = "tlsintermediatecerts"
	dirCRLs                 = "crls"
	fileConfig              = "config.yaml"
)

// Node OU names cryptogen writes and Fabric networks use by default.
const (
	OUClient  = "client"
	OUPeer    = "peer"
	OUAdmin   = "admin"
	OUOrderer = "orderer"
)

// OUIdentifierConfig is one entry of an MSP folder's config.yaml: an OU name,
// optionally tied to the CA (relative certificate path) that must have issued it.
type OUIdentifierConfig struct {
	Certificate                  string `yaml:"Certificate,omitempty"`
	OrganizationalUnitIdentifier string `yaml:"OrganizationalUnitIdentifier,omitempty"`
}

// NodeOUsConfig is the NodeOUs section of an MSP folder's config.yaml.
type NodeOUsConfig struct {
	Enable              bool                `yaml:"Enable,omitempty"`
	ClientOUIdentifier  *OUIdentifierConfig `yaml:"ClientOUIdentifier,omitempty"`
	PeerOUIdentifier    *OUIdentifierConfig `yaml:"PeerOUIdentifier,omitempty"`
	AdminOUIdentifier   *OUIdentifierConfig `yaml:"AdminOUIdentifier,omitempty"`
	OrdererOUIdentifier *OUIdentifierConfig `yaml:"OrdererOUIdentifier,omitempty"`
}

// FolderConfig is an MSP folder's config.yaml, in Fabric's format.
type FolderConfig struct {
	OrganizationalUnitIdentifiers []*OUIdentifierConfig `yaml:"OrganizationalUnitIdentifiers,omitempty"`
	NodeOUs                       *NodeOUsConfig        `yaml:"NodeOUs,omitempty"`
}

// LoadMSPDir reads an MSP folder (cryptogen or fabric-ca layout) into the
// FabricMSPConfig that configtxgen puts into channel configuration: the PEM
// files of cacerts (required), admincerts, intermediatecerts, tlscacerts,
// tlsintermediatecerts and crls, byte for byte, plus OU identifiers and NodeOUs
// from config.yaml with their certificates inlined. It never reads keys.
func LoadMSPDir(mspDir, mspID string) (*mspproto.FabricMSPConfig, error) {
	if mspID == "" {
		return nil, fmt.Errorf("load MSP folder %s: empty MSP ID", mspDir)
	}
	optional := func(sub string) ([][]byte, error) {
		files, err := readPEMDir(filepath.Join(mspDir, sub))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("load MSP %s from %s: %w", mspID, mspDir, err)
		}
		out := make([][]byte, 0, len(files))
		for _, f := range files {
			out = append(out, f.data)
		}
		return out, nil
	}
	roots, err := optional(dirCACerts)
	if err != nil {
		return nil, err
	}
	if len(roots) == 0 {
		return nil, fmt.Errorf("load MSP %s: no PEM certificate in %s; an MSP folder needs at least one CA certificate",
			mspID, filepath.Join(mspDir, dirCACerts))
	}
	conf := &mspproto.FabricMSPConfig{
		Name:      mspID,
		RootCerts: roots,
		CryptoConfig: &mspproto.FabricCryptoConfig{
			SignatureHashFamily:            "SHA2",
			IdentityIdentifierHashFunction: "SHA256",
		},
	}
	if conf.Admins, err = optional(dirAdminCerts); err != nil {
		return nil, err
	}
	if conf.IntermediateCerts, err = optional(dirIntermediateCerts); err != nil {
		return nil, err
	}
	if conf.TlsRootCerts, err = optional(dirTLSCACerts); err != nil {
		return nil, err
	}
	if len(conf.TlsRootCerts) > 0 {
		if conf.TlsIntermediateCerts, err = optional(dirTLSIntermediateCerts); err != nil {
			return nil, err
		}
	}
	if conf.RevocationList, err = optional(dirCRLs); err != nil {
		return nil, err
	}
	if err := loadFolderConfig(mspDir, conf); err != nil {
		return nil, fmt.Errorf("load MSP %s: %w", mspID, err)
	}
	return conf, nil
}

func loadFolderConfig(mspDir string, conf *mspproto.FabricMSPConfig) error {
	path := filepath.Join(mspDir, fileConfig)
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	var fc FolderConfig
	if err := yaml.Unmarshal(raw, &fc); err != nil {
		return fmt.Errorf("parse %s: %w", path, err)
	}
	for _, ou := range fc.OrganizationalUnitIdentifiers {
		if ou == nil {
			continue
		}
		certPath := filepath.Join(mspDir, ou.Certificate)
		cert, err := os.ReadFile(certPath)
		if err != nil {
			return fmt.Errorf("%s: OrganizationalUnitIdentifiers entry %q: %w", path, ou.OrganizationalUnitIdentifier, err)
		}
		conf.OrganizationalUnitIdentifiers = append(conf.OrganizationalUnitIdentifiers, &mspproto.FabricOUIdentifier{
			Certificate:                  cert,
			OrganizationalUnitIdentifier: ou.OrganizationalUnitIdentifier,
		})
	}
	if fc.NodeOUs == nil || !fc.NodeOUs.Enable {
		return nil
	}
	nodeOU := func(c *OUIdentifierConfig, field string) (*mspproto.FabricOUIdentifier, error) {
		if c == nil || c.OrganizationalUnitIdentifier == "" {
			return nil, nil
		}
		id := &mspproto.FabricOUIdentifier{OrganizationalUnitIdentifier: c.OrganizationalUnitIdentifier}
		if c.Certificate != "" {
			cert, err := os.ReadFile(filepath.Join(mspDir, c.Certificate))
			if err != nil {
				return nil, fmt.Errorf("%s: NodeOUs.%s.Certificate: %w", path, field, err)
			}
			id.Certificate = cert
		}
		return id, nil
	}
	n := &mspproto.FabricNodeOUs{Enable: true}
	if n.ClientOuIdentifier, err = nodeOU(fc.NodeOUs.ClientOUIdentifier, "ClientOUIdentifier"); err != nil {
		return err
	}
	if n.PeerOuIdentifier, err = nodeOU(fc.NodeOUs.PeerOUIdentifier, "PeerOUIdentifier"); err != nil {
		return err
	}
	if n.AdminOuIdentifier, err = nodeOU(fc.NodeOUs.AdminOUIdentifier, "AdminOUIdentifier"); err != nil {
		return err
	}
	if n.OrdererOuIdentifier, err = nodeOU(fc.NodeOUs.OrdererOUIdentifier, "OrdererOUIdentifier"); err != nil {
		return err
	}
	conf.FabricNodeOus = n
	return nil
}
