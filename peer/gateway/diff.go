package gateway

import (
	"bytes"
	"fmt"
	"sort"
	"strconv"
	"unicode/utf8"

	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"
)

// maxShownValue bounds how much of a value an error message quotes.
const maxShownValue = 64

// firstDifference explains how two endorsements of one proposal differ: the
// first differing write (namespace, key and both values), else the first
// differing read, range query, response or event. a and b name the two
// endorsers in the text.
func firstDifference(aName string, a *pb.ProposalResponse, bName string, b *pb.ProposalResponse) string {
	ca, errA := chaincodeAction(a)
	cbb, errB := chaincodeAction(b)
	switch {
	case errA != nil:
		return fmt.Sprintf("the response of %s cannot be decoded: %v", aName, errA)
	case errB != nil:
		return fmt.Sprintf("the response of %s cannot be decoded: %v", bName, errB)
	}
	ra, errA := rwSets(ca)
	rb, errB := rwSets(cbb)
	switch {
	case errA != nil:
		return fmt.Sprintf("the read/write set of %s cannot be decoded: %v", aName, errA)
	case errB != nil:
		return fmt.Sprintf("the read/write set of %s cannot be decoded: %v", bName, errB)
	}
	for _, ns := range unionKeys(ra, rb) {
		if d := writeDifference(ns, ra[ns], rb[ns], aName, bName); d != "" {
			return d
		}
	}
	for _, ns := range unionKeys(ra, rb) {
		if d := readDifference(ns, ra[ns], rb[ns], aName, bName); d != "" {
			return d
		}
	}
	if !proto.Equal(ca.GetResponse(), cbb.GetResponse()) {
		return fmt.Sprintf("the chaincode responses differ: %s returned status %d payload %s, %s returned status %d payload %s",
			aName, ca.GetResponse().GetStatus(), showValue(ca.GetResponse().GetPayload()),
			bName, cbb.GetResponse().GetStatus(), showValue(cbb.GetResponse().GetPayload()))
	}
	if !bytes.Equal(ca.GetEvents(), cbb.GetEvents()) {
		return fmt.Sprintf("the chaincode events differ between %s and %s", aName, bName)
	}
	if !proto.Equal(ca.GetChaincodeId(), cbb.GetChaincodeId()) {
		return fmt.Sprintf("the chaincode versions differ: %s ran %s, %s ran %s; the peers have different chaincode definitions (one is behind?)",
			aName, ca.GetChaincodeId().GetVersion(), bName, cbb.GetChaincodeId().GetVersion())
	}
	return fmt.Sprintf("the private data or other parts of the read/write sets differ between %s and %s", aName, bName)
}

func chaincodeAction(pr *pb.ProposalResponse) (*pb.ChaincodeAction, error) {
	prp := &pb.ProposalResponsePayload{}
	if err := proto.Unmarshal(pr.GetPayload(), prp); err != nil {
		return nil, fmt.Errorf("decode peer.ProposalResponsePayload: %w", err)
	}
	ca := &pb.ChaincodeAction{}
	if err := proto.Unmarshal(prp.Extension, ca); err != nil {
		return nil, fmt.Errorf("decode peer.ChaincodeAction: %w", err)
	}
	return ca, nil
}

// rwSets decodes the public read/write sets of an action by namespace.
func rwSets(ca *pb.ChaincodeAction) (map[string]*kvrwset.KVRWSet, error) {
	txrw := &rwset.TxReadWriteSet{}
	if err := proto.Unmarshal(ca.GetResults(), txrw); err != nil {
		return nil, fmt.Errorf("decode rwset.TxReadWriteSet: %w", err)
	}
	out := map[string]*kvrwset.KVRWSet{}
	for _, ns := range txrw.NsRwset {
		kv := &kvrwset.KVRWSet{}
		if err := proto.Unmarshal(ns.Rwset, kv); err != nil {
			return nil, fmt.Errorf("namespace %s: decode kvrwset.KVRWSet: %w", ns.Namespace, err)
		}
		out[ns.Namespace] = kv
	}
	return out, nil
}

func writeDifference(ns string, a, b *kvrwset.KVRWSet, aName, bName string) string {
	wa, wb := map[string]*kvrwset.KVWrite{}, map[string]*kvrwset.KVWrite{}
	for _, w := range a.GetWrites() {
		wa[w.Key] = w
	}
	for _, w := range b.GetWrites() {
		wb[w.Key] = w
	}
	for _, k := range unionKeys(wa, wb) {
		x, y := wa[k], wb[k]
		if x != nil && y != nil && x.IsDelete == y.IsDelete && bytes.Equal(x.Value, y.Value) {
			continue
		}
		return fmt.Sprintf("first differing write: namespace %s key %q: %s wrote %s, %s wrote %s",
			ns, k, aName, showWrite(x), bName, showWrite(y))
	}
	return ""
}

func readDifference(ns string, a, b *kvrwset.KVRWSet, aName, bName string) string {
	ra, rb := map[string]*kvrwset.KVRead{}, map[string]*kvrwset.KVRead{}
	for _, r := range a.GetReads() {
		ra[r.Key] = r
	}
	for _, r := range b.GetReads() {
		rb[r.Key] = r
	}
	for _, k := range unionKeys(ra, rb) {
		x, y := ra[k], rb[k]
		if x != nil && y != nil && proto.Equal(x.Version, y.Version) {
			continue
		}
		return fmt.Sprintf("first differing read: namespace %s key %q: %s read %s, %s read %s (the peers' world states differ: is one of them behind?)",
			ns, k, aName, showRead(x), bName, showRead(y))
	}
	if len(a.GetRangeQueriesInfo()) != len(b.GetRangeQueriesInfo()) {
		return fmt.Sprintf("namespace %s: %s ran %d range queries, %s ran %d", ns, aName, len(a.GetRangeQueriesInfo()), bName, len(b.GetRangeQueriesInfo()))
	}
	for i, q := range a.GetRangeQueriesInfo() {
		if !proto.Equal(q, b.RangeQueriesInfo[i]) {
			return fmt.Sprintf("namespace %s: range query [%q, %q) saw different results on %s and %s (the peers' world states differ)", ns, q.StartKey, q.EndKey, aName, bName)
		}
	}
	return ""
}

func showWrite(w *kvrwset.KVWrite) string {
	switch {
	case w == nil:
		return "nothing"
	case w.IsDelete:
		return "a delete"
	}
	return showValue(w.Value)
}

func showRead(r *kvrwset.KVRead) string {
	switch {
	case r == nil:
		return "nothing"
	case r.Version == nil:
		return "no value"
	}
	return fmt.Sprintf("version %d:%d", r.Version.BlockNum, r.Version.TxNum)
}

// showValue quotes printable values and shows others in hex, both cut to
// maxShownValue bytes.
func showValue(v []byte) string {
	cut := ""
	if len(v) > maxShownValue {
		v, cut = v[:maxShownValue], fmt.Sprintf("… (%d bytes)", len(v))
	}
	if utf8.Valid(v) && bytes.IndexFunc(v, func(r rune) bool { return r < 0x20 && r != '\n' && r != '\t' }) < 0 {
		return strconv.Quote(string(v)) + cut
	}
	return fmt.Sprintf("0x%x", v) + cut
}

func unionKeys[V any](a, b map[string]V) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range []map[string]V{a, b} {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	sort.Strings(out)
	return out
}
