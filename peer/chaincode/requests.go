package chaincode

import (
	"fmt"

	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"
)

// purgeCapability is the application capability that enables
// PurgePrivateData (Fabric v2.5).
const purgeCapability = "V2_5"

// serveRequest answers one state request of a transaction in flight; the
// returned bytes are the RESPONSE payload.
func (h *handler) serveRequest(tx *txState, msg *pb.ChaincodeMessage) ([]byte, error) {
	sim := tx.txc.Simulator
	if sim == nil {
		return nil, fmt.Errorf("transaction %s has no channel, so chaincode has no state to access", msg.Txid)
	}
	ns := tx.ns
	switch msg.Type {
	case pb.ChaincodeMessage_GET_STATE:
		req := &pb.GetState{}
		if err := proto.Unmarshal(msg.Payload, req); err != nil {
			return nil, fmt.Errorf("decode peer.GetState: %w", err)
		}
		if req.Collection == "" {
			return sim.GetState(ns, req.Key)
		}
		if err := tx.checkPrivate("GetPrivateData", req.Collection, useRead); err != nil {
			return nil, err
		}
		pr, ok := sim.(PrivateDataReader)
		if !ok {
			return nil, fmt.Errorf("reading private data (collection %q, key %q) is not supported by this peer", req.Collection, req.Key)
		}
		return pr.GetPrivateData(ns, req.Collection, req.Key)
	case pb.ChaincodeMessage_PUT_STATE:
		req := &pb.PutState{}
		if err := proto.Unmarshal(msg.Payload, req); err != nil {
			return nil, fmt.Errorf("decode peer.PutState: %w", err)
		}
		if req.Collection != "" {
			if err := tx.checkPrivate("PutPrivateData", req.Collection, useWrite); err != nil {
				return nil, err
			}
			return nil, sim.PutPrivateData(ns, req.Collection, req.Key, req.Value)
		}
		return nil, sim.SetState(ns, req.Key, req.Value)
	case pb.ChaincodeMessage_DEL_STATE:
		req := &pb.DelState{}
		if err := proto.Unmarshal(msg.Payload, req); err != nil {
			return nil, fmt.Errorf("decode peer.DelState: %w", err)
		}
		if req.Collection != "" {
			if err := tx.checkPrivate("DelPrivateData", req.Collection, useWrite); err != nil {
				return nil, err
			}
			pd, ok := sim.(PrivateDataDeleter)
			if !ok {
				return nil, fmt.Errorf("deleting private data (collection %q, key %q) is not supported by this peer", req.Collection, req.Key)
			}
			return nil, pd.DeletePrivateData(ns, req.Collection, req.Key)
		}
		return nil, sim.DeleteState(ns, req.Key)
	case pb.ChaincodeMessage_PURGE_PRIVATE_DATA:
		req := &pb.DelState{}
		if err := proto.Unmarshal(msg.Payload, req); err != nil {
			return nil, fmt.Errorf("decode peer.DelState: %w", err)
		}
		// Fabric checks the capability first: a purge committed on some
		// peers but not understood by others must never happen.
		if !tx.txc.hasApplicationCapability(purgeCapability) {
			return nil, fmt.Errorf("PurgePrivateData (collection %q, key %q) is not enabled on channel %q: it needs the channel application capability %s "+
				"(add %s: true under Application Capabilities in configtx.yaml, or update the channel configuration)", req.Collection, req.Key, tx.txc.ChannelID, purgeCapability, purgeCapability)
		}
		if req.Collection == "" {
			return nil, fmt.Errorf("PurgePrivateData of key %q names no collection; purging applies only to private data", req.Key)
		}
		if err := tx.checkPrivate("PurgePrivateData", req.Collection, useWrite); err != nil {
			return nil, err
		}
		pp, ok := sim.(PrivateDataPurger)
		if !ok {
			return nil, fmt.Errorf("PurgePrivateData (collection %q, key %q) is not supported by this peer; "+
				"DelPrivateData deletes the key but, unlike a purge, keeps its earlier versions in the private data store", req.Collection, req.Key)
		}
		return nil, pp.PurgePrivateData(ns, req.Collection, req.Key)
	case pb.ChaincodeMessage_GET_PRIVATE_DATA_HASH:
		req := &pb.GetState{}
		if err := proto.Unmarshal(msg.Payload, req); err != nil {
			return nil, fmt.Errorf("decode peer.GetState: %w", err)
		}
		if err := tx.checkPrivate("GetPrivateDataHash", req.Collection, useHash); err != nil {
			return nil, err
		}
		return sim.GetPrivateDataHash(ns, req.Collection, req.Key)
	case pb.ChaincodeMessage_GET_STATE_METADATA:
		req := &pb.GetStateMetadata{}
		if err := proto.Unmarshal(msg.Payload, req); err != nil {
			return nil, fmt.Errorf("decode peer.GetStateMetadata: %w", err)
		}
		var md map[string][]byte
		if req.Collection != "" {
			if err := tx.checkPrivate("GetPrivateDataValidationParameter", req.Collection, useRead); err != nil {
				return nil, err
			}
			pm, ok := sim.(PrivateMetadataAccessor)
			if !ok {
				return nil, fmt.Errorf("metadata of private data (collection %q, key %q) is not supported by this peer", req.Collection, req.Key)
			}
			var err error
			if md, err = pm.GetPrivateDataMetadata(ns, req.Collection, req.Key); err != nil {
				return nil, err
			}
		} else {
			ma, ok := sim.(StateMetadataAccessor)
			if !ok {
				return nil, nil // no key-level metadata: an empty StateMetadataResult
			}
			var err error
			if md, err = ma.GetStateMetadata(ns, req.Key); err != nil {
				return nil, err
			}
		}
		return proto.Marshal(metadataResult(md))
	case pb.ChaincodeMessage_PUT_STATE_METADATA:
		req := &pb.PutStateMetadata{}
		if err := proto.Unmarshal(msg.Payload, req); err != nil {
			return nil, fmt.Errorf("decode peer.PutStateMetadata: %w", err)
		}
		if req.Metadata == nil {
			return nil, fmt.Errorf("PUT_STATE_METADATA for key %q carries no metadata", req.Key)
		}
		// As in Fabric, the entry sent becomes the key's whole metadata,
		// written without reading the key: the shim only ever sends
		// VALIDATION_PARAMETER, and a read here would make this peer's
		// read/write set differ from a Fabric peer's for the same proposal.
		md := map[string][]byte{req.Metadata.Metakey: req.Metadata.Value}
		if req.Collection != "" {
			if err := tx.checkPrivate("SetPrivateDataValidationParameter", req.Collection, useWrite); err != nil {
				return nil, err
			}
			pm, ok := sim.(PrivateMetadataAccessor)
			if !ok {
				return nil, fmt.Errorf("setting metadata of private data (collection %q, key %q) is not supported by this peer", req.Collection, req.Key)
			}
			return nil, pm.SetPrivateDataMetadata(ns, req.Collection, req.Key, md)
		}
		ma, ok := sim.(StateMetadataAccessor)
		if !ok {
			return nil, fmt.Errorf("setting metadata of key %q is not supported by this peer", req.Key)
		}
		return nil, ma.SetStateMetadata(ns, req.Key, md)
	case pb.ChaincodeMessage_GET_STATE_BY_RANGE:
		return h.getStateByRange(tx, msg)
	case pb.ChaincodeMessage_GET_HISTORY_FOR_KEY:
		return h.getHistoryForKey(tx, msg)
	case pb.ChaincodeMessage_QUERY_STATE_NEXT:
		req := &pb.QueryStateNext{}
		if err := proto.Unmarshal(msg.Payload, req); err != nil {
			return nil, fmt.Errorf("decode peer.QueryStateNext: %w", err)
		}
		tx.mu.Lock()
		qi := tx.iters[req.Id]
		tx.mu.Unlock()
		if qi == nil {
			return nil, fmt.Errorf("query iterator %q not found (closed or exhausted)", req.Id)
		}
		return h.nextBatch(tx, req.Id, qi)
	case pb.ChaincodeMessage_QUERY_STATE_CLOSE:
		req := &pb.QueryStateClose{}
		if err := proto.Unmarshal(msg.Payload, req); err != nil {
			return nil, fmt.Errorf("decode peer.QueryStateClose: %w", err)
		}
		tx.closeIter(req.Id)
		return proto.Marshal(&pb.QueryResponse{Id: req.Id})
	case pb.ChaincodeMessage_INVOKE_CHAINCODE:
		return h.invokeChaincode(tx, msg)
	}
	return nil, fmt.Errorf("unexpected message type %s", msg.Type)
}
