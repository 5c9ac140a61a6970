package deliver

import (
	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/protos"
)

// FilterBlock builds the pb.FilteredBlock Fabric sends for b: per transaction
// its ID, header type and validation code (from TRANSACTIONS_FILTER), and for
// endorser transactions the chaincode event of each action with its payload
// removed (actions without an event are left out, as Fabric does). Transactions
// whose envelope cannot be decoded are skipped rather than failing the stream.
func FilterBlock(channelID string, b *cb.Block) *pb.FilteredBlock {
	fb := &pb.FilteredBlock{ChannelId: channelID, Number: b.GetHeader().GetNumber()}
	flags := protos.TxFilter(b)
	for i, raw := range b.GetData().GetData() {
		if len(raw) == 0 {
			continue
		}
		env := &cb.Envelope{}
		if err := proto.Unmarshal(raw, env); err != nil {
			continue
		}
		payload := &cb.Payload{}
		if err := proto.Unmarshal(env.Payload, payload); err != nil || payload.Header == nil {
			continue
		}
		chdr, err := protos.UnmarshalChannelHeader(payload.Header.ChannelHeader)
		if err != nil {
			continue
		}
		if chdr.ChannelId != "" {
			fb.ChannelId = chdr.ChannelId
		}
		ftx := &pb.FilteredTransaction{
			Txid:             chdr.TxId,
			Type:             cb.HeaderType(chdr.Type),
			TxValidationCode: pb.TxValidationCode(flags[i]),
		}
		if ftx.Type == cb.HeaderType_ENDORSER_TRANSACTION {
			if acts, ok := filteredActions(payload.Data); ok {
				ftx.Data = &pb.FilteredTransaction_TransactionActions{TransactionActions: acts}
			}
		}
		fb.FilteredTransactions = append(fb.FilteredTransactions, ftx)
	}
	return fb
}

// filteredActions extracts the payload-free chaincode events of a transaction.
func filteredActions(txBytes []byte) (*pb.FilteredTransactionActions, bool) {
	tx := &pb.Transaction{}
	if err := proto.Unmarshal(txBytes, tx); err != nil {
		return nil, false
	}
	out := &pb.FilteredTransactionActions{}
	for _, action := range tx.Actions {
		cap := &pb.ChaincodeActionPayload{}
		if err := proto.Unmarshal(action.Payload, cap); err != nil || cap.Action == nil {
			continue
		}
		prp := &pb.ProposalResponsePayload{}
		if err := proto.Unmarshal(cap.Action.ProposalResponsePayload, prp); err != nil {
			continue
		}
		ca := &pb.ChaincodeAction{}
		if err := proto.Unmarshal(prp.Extension, ca); err != nil {
			continue
		}
		ev := &pb.ChaincodeEvent{}
		if err := proto.Unmarshal(ca.Events, ev); err != nil || ev.ChaincodeId == "" {
			continue
		}
		out.ChaincodeActions = append(out.ChaincodeActions, &pb.FilteredChaincodeAction{
			ChaincodeEvent: &pb.ChaincodeEvent{ChaincodeId: ev.ChaincodeId, TxId: ev.TxId, EventName: ev.EventName},
		})
	}
	return out, true
}
