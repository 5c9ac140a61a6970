package ledger

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"google.golang.org/protobuf/proto"
)

// A block file is a sequence of records: uint32 big-endian payload length,
// uint32 big-endian CRC-32C of the payload, payload (a marshalled cb.Block).
const recordHeaderSize = 8

var crcTable = crc32.MakeTable(crc32.Castagnoli)

const blockFilePrefix = "blockfile_"

func blockFileName(dir string, n uint64) string {
	return filepath.Join(dir, fmt.Sprintf("%s%06d", blockFilePrefix, n))
}

// listBlockFiles returns the numbers of the block files in dir, ascending.
func listBlockFiles(dir string) ([]uint64, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list block files in %s: %w", dir, err)
	}
	var nums []uint64
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, blockFilePrefix) {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimPrefix(name, blockFilePrefix), 10, 64)
		if err != nil {
			continue
		}
		nums = append(nums, n)
	}
	sort.Slice(nums, func(i, j int) bool { return nums[i] < nums[j] })
	return nums, nil
}

func encodeRecord(payload []byte) []byte {
	rec := make([]byte, recordHeaderSize+len(payload))
	putRecordHeader(rec, payload)
	copy(rec[recordHeaderSize:], payload)
	return rec
}

// appendBlockRecord appends the record of b to buf: its header, then b's
// deterministic encoding, marshalled in place so that a kept buffer spares
// the two block-sized allocations (and on this kind of machine their page
// faults) of marshalling and then copying.
func appendBlockRecord(buf []byte, b *cb.Block) ([]byte, error) {
	start := len(buf)
	buf = append(buf, make([]byte, recordHeaderSize)...)
	buf, err := proto.MarshalOptions{Deterministic: true}.MarshalAppend(buf, b)
	if err != nil {
		return nil, fmt.Errorf("encode block %d: %w", b.GetHeader().GetNumber(), err)
	}
	putRecordHeader(buf[start:], buf[start+recordHeaderSize:])
	return buf, nil
}

func putRecordHeader(rec, payload []byte) {
	binary.BigEndian.PutUint32(rec[0:4], uint32(len(payload)))
	binary.BigEndian.PutUint32(rec[4:8], crc32.Checksum(payload, crcTable))
}

// recordDamage is a record that is not intact: cut short by the end of the
// file, with a length of 0, or failing its checksum. Whether it is a torn
// write or corruption depends on where it is (see BlockStore recovery).
type recordDamage struct{ reason string }

func (d *recordDamage) Error() string { return "damaged block record: " + d.reason }

// CorruptError is damage to the block files that recovery refuses to
// repair, and that a read meets: the record at Offset of File is not
// intact, and a torn write from a crash cannot have left it there. Nothing
// on disk was changed.
type CorruptError struct {
	File   string
	Offset int64
	Reason string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("block file %s is damaged at offset %d: %s. This is not a torn write from a crash, so the block store is left as it is "+
		"rather than truncating blocks that were written and synced; restore the ledger from a backup or rebuild it from the ordering service: "+
		"a peer can leave the channel (remove its ledger folder) and join it again with the genesis block, an orderer can remove the channel "+
		"and join it again through the participation API (see \"Crash recovery\" in docs/security.md)", e.File, e.Offset, e.Reason)
}

func (e *CorruptError) Unwrap() error { return ErrCorrupt }

// readRecord reads the record at off in f. It returns a *recordDamage when
// the bytes at off are not a complete record with a non-zero length and a
// matching checksum, io.EOF when off is exactly the end of the file.
func readRecord(f *os.File, off, size int64) ([]byte, error) {
	if off == size {
		return nil, io.EOF
	}
	if size-off < recordHeaderSize {
		return nil, &recordDamage{fmt.Sprintf("the record header is cut short (%d of %d bytes)", size-off, recordHeaderSize)}
	}
	var hdr [recordHeaderSize]byte
	if _, err := f.ReadAt(hdr[:], off); err != nil {
		return nil, fmt.Errorf("read record header at %d: %w", off, err)
	}
	n := int64(binary.BigEndian.Uint32(hdr[0:4]))
	if n == 0 {
		return nil, &recordDamage{"the record length is 0"}
	}
	if size-off-recordHeaderSize < n {
		return nil, &recordDamage{fmt.Sprintf("the record declares %d bytes but only %d remain", n, size-off-recordHeaderSize)}
	}
	payload := make([]byte, n)
	if _, err := f.ReadAt(payload, off+recordHeaderSize); err != nil {
		return nil, fmt.Errorf("read record at %d: %w", off, err)
	}
	if crc32.Checksum(payload, crcTable) != binary.BigEndian.Uint32(hdr[4:8]) {
		return nil, &recordDamage{"checksum mismatch"}
	}
	return payload, nil
}

// intactRecordAfter looks for an intact record starting anywhere in
// [from, size) of f: a non-zero length that fits, a payload that begins
// with a block header that decodes, and a matching checksum. It reads that
// part of the file into memory, which happens only when a block file is
// damaged. The checksums it computes are bounded; when they run out it
// answers found with offset -1 (an intact record could not be ruled out).
func intactRecordAfter(f *os.File, from, size int64) (int64, bool, error) {
	if from >= size {
		return 0, false, nil
	}
	rest := make([]byte, size-from)
	if _, err := f.ReadAt(rest, from); err != nil && !errors.Is(err, io.EOF) {
		return 0, false, fmt.Errorf("read %s: %w", f.Name(), err)
	}
	budget := 8*int64(len(rest)) + 256<<20
	for p := 0; p+recordHeaderSize+2 < len(rest); p++ {
		n := int(binary.BigEndian.Uint32(rest[p:]))
		if n < 2 || n > len(rest)-p-recordHeaderSize {
			continue
		}
		payload := rest[p+recordHeaderSize : p+recordHeaderSize+n]
		// A marshalled cb.Block starts with its header (field 1), a few
		// dozen bytes long.
		if hl := int(payload[1]); payload[0] != 0x0a || hl >= 0x80 || 2+hl > n {
			continue
		} else if proto.Unmarshal(payload[2:2+hl], &cb.BlockHeader{}) != nil {
			continue
		}
		if budget -= int64(n); budget < 0 {
			return -1, true, nil
		}
		if crc32.Checksum(payload, crcTable) == binary.BigEndian.Uint32(rest[p+4:]) {
			return from + int64(p), true, nil
		}
	}
	return 0, false, nil
}
