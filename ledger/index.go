package ledger

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/syndtr/goleveldb/leveldb"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"

	"github.com/weft-ledger/weft/protos"
	stateleveldb "github.com/weft-ledger/weft/statedb/leveldb"
)

// Index layout (a goleveldb in the block store folder):
//
//	"H"               -> uvarint height covered by the index
//	"n" ‖ be64(num)   -> location: uvarint file, uvarint offset, uvarint record length
//	"h" ‖ header hash -> be64(num)
//	"t" ‖ txid        -> uvarint num, uvarint tx index, uvarint validation code
var indexHeightKey = []byte("H")

type location struct {
	file, offset, length uint64 // length includes the record header
}

func (l location) encode() []byte {
	b := binary.AppendUvarint(nil, l.file)
	b = binary.AppendUvarint(b, l.offset)
	return binary.AppendUvarint(b, l.length)
}

func decodeUvarints(b []byte, n int) ([]uint64, error) {
	out := make([]uint64, n)
	for i := range out {
		v, k := binary.Uvarint(b)
		if k <= 0 {
			return nil, fmt.Errorf("corrupt index entry")
		}
		out[i] = v
		b = b[k:]
	}
	return out, nil
}

func numKey(n uint64) []byte  { return binary.BigEndian.AppendUint64([]byte("n"), n) }
func hashKey(h []byte) []byte { return append([]byte("h"), h...) }

// appendTxKey appends the index key of TxID id to b.
func appendTxKey(b []byte, id string) []byte { return append(append(b, 't'), id...) }

type txLoc struct {
	block, index uint64
	code         uint64
}

type index struct {
	db *leveldb.DB
	// noTx leaves the "t" entries out (BlockStoreOptions.NoTxIndex).
	noTx bool
	// txs answers most lookups of absent TxIDs without LevelDB; nil with noTx.
	txs *txFilter
}

// errNoTxIndex answers lookups by TxID in a store without the TxID index.
var errNoTxIndex = errors.New("this block store keeps no TxID index (an orderer's store): look the transaction up on a peer")

func openIndex(dir string, noTx bool) (*index, error) {
	db, err := stateleveldb.OpenFile(dir)
	if err != nil {
		return nil, fmt.Errorf("open block index %s: %w", dir, err)
	}
	ix := &index{db: db, noTx: noTx}
	if !noTx {
		ix.txs = newTxFilter(ix.scanTxIDs, minFilterBits)
	}
	return ix, nil
}

// startTxFilter builds the TxID filter in the background. It is called once
// the index is complete (after the block store's recovery), because entries
// written before then are found only by the filter's scan.
func (ix *index) startTxFilter() {
	if ix.txs != nil {
		ix.txs.start()
	}
}

// written tells the TxID filter about the TxIDs of a batch just written.
func (ix *index) written(ids map[string]txLoc) {
	if ix.txs != nil {
		ix.txs.add(ids)
	}
}

func (ix *index) get(key []byte) ([]byte, bool, error) {
	v, err := ix.db.Get(key, nil)
	if errors.Is(err, leveldb.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read block index: %w", err)
	}
	return v, true, nil
}

func (ix *index) height() (uint64, error) {
	v, ok, err := ix.get(indexHeightKey)
	if err != nil || !ok {
		return 0, err
	}
	h, err := decodeUvarints(v, 1)
	if err != nil {
		return 0, fmt.Errorf("index height: %w", err)
	}
	return h[0], nil
}

func (ix *index) location(n uint64) (location, bool, error) {
	v, ok, err := ix.get(numKey(n))
	if err != nil || !ok {
		return location{}, ok, err
	}
	f, err := decodeUvarints(v, 3)
	if err != nil {
		return location{}, false, fmt.Errorf("location of block %d: %w", n, err)
	}
	return location{file: f[0], offset: f[1], length: f[2]}, true, nil
}

func (ix *index) blockByHash(h []byte) (uint64, bool, error) {
	v, ok, err := ix.get(hashKey(h))
	if err != nil || !ok {
		return 0, ok, err
	}
	if len(v) != 8 {
		return 0, false, fmt.Errorf("corrupt hash index entry")
	}
	return binary.BigEndian.Uint64(v), true, nil
}

func (ix *index) tx(id string) (txLoc, bool, error) { return ix.txIn(nil, id) }

// txIn looks TxID id up through snap, or straight in the index when snap is
// nil (LevelDB then pins a view for this one read).
func (ix *index) txIn(snap *leveldb.Snapshot, id string) (txLoc, bool, error) {
	if ix.noTx {
		return txLoc{}, false, errNoTxIndex
	}
	if !ix.txs.mayContain(id) {
		return txLoc{}, false, nil
	}
	// The key is built in this frame's buffer when it fits (a TxID is 64
	// hex digits); LevelDB only reads it during the call.
	var buf [1 + 96]byte
	key := appendTxKey(buf[:0], id)
	var v []byte
	var err error
	if snap != nil {
		v, err = snap.Get(key, nil)
	} else {
		v, err = ix.db.Get(key, nil)
	}
	if errors.Is(err, leveldb.ErrNotFound) {
		return txLoc{}, false, nil
	}
	if err != nil {
		return txLoc{}, false, fmt.Errorf("read block index: %w", err)
	}
	f, err := decodeUvarints(v, 3)
	if err != nil {
		return txLoc{}, false, fmt.Errorf("tx index entry of %s: %w", id, err)
	}
	return txLoc{block: f[0], index: f[1], code: f[2]}, true, nil
}

// add records b at loc in batch wb. pending holds TxIDs already added to wb
// but not yet written, so duplicates within one rebuild batch resolve alike.
func (ix *index) add(wb *leveldb.Batch, b *cb.Block, loc location, pending map[string]txLoc) error {
	n := b.GetHeader().GetNumber()
	wb.Put(numKey(n), loc.encode())
	wb.Put(hashKey(protos.BlockHeaderHash(b.Header)), binary.BigEndian.AppendUint64(nil, n))
	if ix.noTx {
		wb.Put(indexHeightKey, binary.AppendUvarint(nil, n+1))
		return nil
	}
	filter := protos.TxFilter(b)
	// The block's TxIDs are looked up through one snapshot rather than one
	// pinned view per lookup. The index is written only by write, after add
	// returns, with the block store's lock held, so the snapshot sees what
	// separate Gets would.
	snap, err := ix.db.GetSnapshot()
	if err != nil {
		return fmt.Errorf("read block index: %w", err)
	}
	defer snap.Release()
	// The batch copies keys and values in: one buffer of each serves every
	// transaction.
	var key, val []byte
	for i, raw := range b.GetData().GetData() {
		id := txIDOf(raw)
		if id == "" {
			continue
		}
		entry := txLoc{block: n, index: uint64(i), code: uint64(filter[i])}
		prev, seen := pending[id]
		if !seen {
			var err error
			prev, seen, err = ix.txIn(snap, id)
			if err != nil {
				return err
			}
		}
		// The first occurrence of a TxID wins, unless only a later one is valid:
		// a duplicate never hides the transaction that took effect.
		if seen && !(prev.code != 0 && entry.code == 0) {
			continue
		}
		pending[id] = entry
		key = appendTxKey(key[:0], id)
		val = binary.AppendUvarint(val[:0], entry.block)
		val = binary.AppendUvarint(val, entry.index)
		val = binary.AppendUvarint(val, entry.code)
		wb.Put(key, val)
	}
	wb.Put(indexHeightKey, binary.AppendUvarint(nil, n+1))
	return nil
}

func (ix *index) write(wb *leveldb.Batch) error {
	// Not synced: the block file is synced first, and an index that lost
	// its last entries in a machine crash is completed from the files at
	// open (BlockStore.recover). One fsync a block fewer.
	if err := ix.db.Write(wb, nil); err != nil {
		return fmt.Errorf("write block index: %w", err)
	}
	return nil
}

func (ix *index) close() error {
	if ix.txs != nil {
		ix.txs.stop()
	}
	return ix.db.Close()
}

// txIDOf returns the TxID in an envelope's channel header, or "" when the
// envelope cannot be decoded that far.
func txIDOf(raw []byte) string {
	if chdr, ok := envelopeChannelHeader(raw); ok {
		if id, ok := channelHeaderTxID(chdr); ok {
			return string(id)
		}
	}
	ch, err := channelHeaderOf(raw)
	if err != nil {
		return ""
	}
	return ch.TxId
}
