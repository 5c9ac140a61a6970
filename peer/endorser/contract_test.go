package endorser

import (
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/ledger"
	"github.com/weft-ledger/weft/msp"
	"github.com/weft-ledger/weft/peer/chaincode"
	"github.com/weft-ledger/weft/peer/lifecycle"
)

// The real packages satisfy the interfaces the endorser consumes.
var (
	_ pb.EndorserServer               = (*Endorser)(nil)
	_ LocalMSP                        = (*msp.MSP)(nil)
	_ ChannelConfig                   = (*channelconfig.Bundle)(nil)
	_ Simulator                       = (*ledger.Simulator)(nil)
	_ CommittedState                  = lifecycle.DBState{}
	_ Definitions                     = (*lifecycle.Lifecycle)(nil)
	_ Executor                        = (*chaincode.Runtime)(nil)
	_ chaincode.SystemChaincode       = (*lifecycle.Lifecycle)(nil)
	_ pb.ChaincodeSupportServer       = (*chaincode.Runtime)(nil)
	_ chaincode.TxSimulator           = (*ledger.Simulator)(nil)
	_ chaincode.PrivateDataReader     = (*ledger.Simulator)(nil)
	_ chaincode.PrivateDataDeleter    = (*ledger.Simulator)(nil)
	_ chaincode.StateMetadataAccessor = (*ledger.Simulator)(nil)
)
