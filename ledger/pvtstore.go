package ledger

import (
	"encoding/binary"
	"fmt"

	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	"github.com/syndtr/goleveldb/leveldb"
	lerrors "github.com/syndtr/goleveldb/leveldb/errors"
	"github.com/syndtr/goleveldb/leveldb/opt"
	"github.com/syndtr/goleveldb/leveldb/util"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/protos"
)

// pvtStore keeps the private write sets of blocks that are (about to be)
// appended but whose writes may not have reached the state yet, so that Open
// can replay them: the transient store they came from does not survive a
// crash.
//
// Layout (a goleveldb in dir/pvtdata): key = uint64be(block) ‖ uint64be(tx),
// value = the marshalled rwset.TxPvtReadWriteSet. An entry is only needed
// while its block is above the state savepoint; Commit deletes it once the
// state is updated and Open drops whatever is left after replay.
type pvtStore struct {
	db *leveldb.DB
}

func openPvtStore(dir string) (*pvtStore, error) {
	db, err := leveldb.OpenFile(dir, nil)
	if lerrors.IsCorrupted(err) {
		db, err = leveldb.RecoverFile(dir, nil)
	}
	if err != nil {
		return nil, fmt.Errorf("open private data store %s: %w", dir, err)
	}
	return &pvtStore{db: db}, nil
}

func pvtKey(block, tx uint64) []byte {
	k := binary.BigEndian.AppendUint64(make([]byte, 0, 16), block)
	return binary.BigEndian.AppendUint64(k, tx)
}

// blockRange is the key range of one block's entries.
func blockRange(block uint64) *util.Range {
	return util.BytesPrefix(binary.BigEndian.AppendUint64(nil, block))
}

// put durably replaces the entries of block with sets (tx index → set).
func (s *pvtStore) put(block uint64, sets map[uint64]*rwset.TxPvtReadWriteSet) error {
	wb := new(leveldb.Batch)
	if err := s.deleteInto(wb, blockRange(block)); err != nil {
		return err
	}
	for tx, set := range sets {
		wb.Put(pvtKey(block, tx), protos.Marshal(set))
	}
	if err := s.db.Write(wb, &opt.WriteOptions{Sync: true}); err != nil {
		return fmt.Errorf("store private data of block %d: %w", block, err)
	}
	return nil
}

// get returns the stored sets of block (empty when there are none).
func (s *pvtStore) get(block uint64) (map[uint64]*rwset.TxPvtReadWriteSet, error) {
	it := s.db.NewIterator(blockRange(block), nil)
	defer it.Release()
	out := map[uint64]*rwset.TxPvtReadWriteSet{}
	for it.Next() {
		k := it.Key()
		if len(k) != 16 {
			return nil, fmt.Errorf("private data store: malformed key %x (remove the pvtdata folder only if no block is pending replay)", k)
		}
		tx := binary.BigEndian.Uint64(k[8:])
		set := &rwset.TxPvtReadWriteSet{}
		if err := proto.Unmarshal(it.Value(), set); err != nil {
			return nil, fmt.Errorf("private data of block %d tx %d: %w", block, tx, err)
		}
		out[tx] = set
	}
	if err := it.Error(); err != nil {
		return nil, fmt.Errorf("read private data of block %d: %w", block, err)
	}
	return out, nil
}

// drop deletes the entries of block; sync makes the deletion durable.
func (s *pvtStore) drop(block uint64, sync bool) error {
	return s.deleteRange(blockRange(block), sync)
}

// dropAll deletes every entry.
func (s *pvtStore) dropAll() error { return s.deleteRange(nil, true) }

func (s *pvtStore) deleteRange(r *util.Range, sync bool) error {
	wb := new(leveldb.Batch)
	if err := s.deleteInto(wb, r); err != nil {
		return err
	}
	if wb.Len() == 0 {
		return nil
	}
	if err := s.db.Write(wb, &opt.WriteOptions{Sync: sync}); err != nil {
		return fmt.Errorf("delete private data: %w", err)
	}
	return nil
}

func (s *pvtStore) deleteInto(wb *leveldb.Batch, r *util.Range) error {
	it := s.db.NewIterator(r, nil)
	defer it.Release()
	for it.Next() {
		wb.Delete(append([]byte(nil), it.Key()...))
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("scan private data: %w", err)
	}
	return nil
}

func (s *pvtStore) close() error { return s.db.Close() }
