package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// metaInfDir is a chaincode folder's metadata (CouchDB index definitions
// under META-INF/statedb/couchdb/...).
const metaInfDir = "META-INF"

// GoSourcePackage builds Fabric's "golang" chaincode package of the Go
// module in dir, laid out as Fabric's packager lays it out: metadata.json
// {type: golang, label, path} and code.tar.gz holding every file of dir
// under src/, except dir/META-INF, whose files go to the root of
// code.tar.gz, where peers look for index definitions (AddMetaInf). path is
// metadata.json's path; peers do not use it to build. The package is
// deterministic: same files, same bytes, same package ID.
func GoSourcePackage(label, dir, path string) ([]byte, error) {
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() && p == filepath.Join(dir, metaInfDir) {
			return fs.SkipDir // metadata, added below at the root
		}
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		raw, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files["src/"+filepath.ToSlash(rel)] = raw
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read chaincode source %s: %w", dir, err)
	}
	if err := AddMetaInf(files, dir); err != nil {
		return nil, err
	}
	return chaincodePackage(map[string]string{"path": path, "type": "golang", "label": label}, files)
}

// AddMetaInf adds the files of dir/META-INF (CouchDB index definitions
// under META-INF/statedb/couchdb/...) to a code.tar.gz's files at its root,
// where Fabric's packager puts them and peers look for them, not under
// src/. Hidden files are left out, as Fabric's packager leaves them out; the
// peer checks the rest at install.
func AddMetaInf(files map[string][]byte, dir string) error {
	root := filepath.Join(dir, metaInfDir)
	if _, err := os.Stat(root); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), ".") {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		raw, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files[filepath.ToSlash(rel)] = raw
		return nil
	})
	if err != nil {
		return fmt.Errorf("read chaincode metadata %s: %w", root, err)
	}
	return nil
}

// CCaaSDirPackage builds a chaincode-as-a-service package from a folder, as
// `weft chaincode package --lang ccaas` does: its connection.json, and its
// META-INF at the root of code.tar.gz.
func CCaaSDirPackage(label, dir string) ([]byte, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "connection.json"))
	if err != nil {
		return nil, fmt.Errorf("a ccaas package needs %s: %w", filepath.Join(dir, "connection.json"), err)
	}
	files := map[string][]byte{"connection.json": raw}
	if err := AddMetaInf(files, dir); err != nil {
		return nil, err
	}
	return chaincodePackage(map[string]string{"type": "ccaas", "label": label}, files)
}

// chaincodePackage wraps code.tar.gz's files and metadata.json into a
// chaincode package.
func chaincodePackage(md map[string]string, code map[string][]byte) ([]byte, error) {
	codeTar, err := TarGz(code)
	if err != nil {
		return nil, err
	}
	mdj, err := json.Marshal(md)
	if err != nil {
		return nil, err
	}
	return TarGz(map[string][]byte{"metadata.json": mdj, "code.tar.gz": codeTar})
}
