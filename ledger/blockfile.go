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
	binary.BigEndian.PutUint32(rec[0:4], uint32(len(payload)))
	binary.BigEndian.PutUint32(rec[4:8], crc32.Checksum(payload, crcTable))
	copy(rec[recordHeaderSize:], payload)
	return rec
}

// errTornRecord marks a record cut short or damaged by a crash during append.
var errTornRecord = errors.New("torn block record")

// readRecord reads the record at off in f. It returns errTornRecord when the
// bytes at off are not a complete record with a matching checksum, io.EOF
// when off is exactly the end of the file.
func readRecord(f *os.File, off, size int64) ([]byte, error) {
	if off == size {
		return nil, io.EOF
	}
	if size-off < recordHeaderSize {
		return nil, errTornRecord
	}
	var hdr [recordHeaderSize]byte
	if _, err := f.ReadAt(hdr[:], off); err != nil {
		return nil, fmt.Errorf("read record header at %d: %w", off, err)
	}
	n := int64(binary.BigEndian.Uint32(hdr[0:4]))
	if size-off-recordHeaderSize < n {
		return nil, errTornRecord
	}
	payload := make([]byte, n)
	if _, err := f.ReadAt(payload, off+recordHeaderSize); err != nil {
		return nil, fmt.Errorf("read record at %d: %w", off, err)
	}
	if crc32.Checksum(payload, crcTable) != binary.BigEndian.Uint32(hdr[4:8]) {
		return nil, errTornRecord
	}
	return payload, nil
}
