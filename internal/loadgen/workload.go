package loadgen

import (
	"fmt"
	"strconv"
)

// AccountBalance is the AppraisedValue each account of the hot-key
// workload starts with: far more than its transfers of 1 can spend.
const AccountBalance = 1_000_000

// AccountKey is the ledger key of account k of the hot-key workload.
func AccountKey(prefix string, k int) string { return prefix + "-" + strconv.Itoa(k) }

// CreateAccounts returns the arguments that create account i of the hot-key
// workload with basic's CreateAsset: transaction i creates account i.
func CreateAccounts(prefix string) func(i int) [][]byte {
	return func(i int) [][]byte {
		return [][]byte{[]byte("CreateAsset"), []byte(AccountKey(prefix, i)), []byte("blue"), []byte("1"), []byte("bench"), []byte(strconv.Itoa(AccountBalance))}
	}
}

// Transfers returns the arguments of hot-key transfers: each call moves 1
// of basic's AppraisedValue between two different accounts of n (see
// CreateAccounts), both drawn from Zipf(s) (TransferValue reads and writes
// both keys). Every call draws a new pair, so a warm-up and a measured run
// that share it get different transactions.
func Transfers(prefix string, n int, s float64, seed uint64) (func(i int) [][]byte, error) {
	if n < 2 {
		return nil, fmt.Errorf("the transfer workload needs at least 2 accounts, got %d", n)
	}
	z, err := NewZipf(n, s, seed)
	if err != nil {
		return nil, err
	}
	return func(int) [][]byte {
		a, b := z.Pair()
		return [][]byte{[]byte("TransferValue"), []byte(AccountKey(prefix, a)), []byte(AccountKey(prefix, b)), []byte("1")}
	}, nil
}
