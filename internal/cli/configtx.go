package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	mspb "github.com/hyperledger/fabric-protos-go-apiv2/msp"
	ab "github.com/hyperledger/fabric-protos-go-apiv2/orderer"
	"github.com/hyperledger/fabric-protos-go-apiv2/orderer/etcdraft"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/weft-ledger/weft/internal/client"
)

// The configtxlator commands translate between Fabric's protobuf messages and
// the JSON configtxlator prints: protojson with the proto field names, every
// field shown, and the opaque bytes fields whose message type is known from
// context (an envelope's payload, a config value by its key, a policy by its
// type, the etcdraft consenters in ConsensusType, an MSP's config, ...)
// expanded into that message's JSON. Bytes whose type is not known (e.g.
// certificates and signatures) stay base64, as in Fabric.

const configtxlatorTypes = "a message name such as common.Block, common.Config, common.ConfigUpdate, common.Envelope"

func runProtoDecode(_ context.Context, env *Env, args []string) error {
	return runProtoConvert(env, args, "proto_decode", "decode from", "the protobuf message", "the JSON document",
		func(typ, input string, m proto.Message, raw []byte) ([]byte, error) {
			if err := proto.Unmarshal(raw, m); err != nil {
				return nil, fmt.Errorf("%s is not a %s: %w", inputName(input), typ, err)
			}
			out, err := DecodeProtoJSON(m)
			if err != nil {
				return nil, fmt.Errorf("decode %s: %w", typ, err)
			}
			return out, nil
		})
}

func runProtoEncode(_ context.Context, env *Env, args []string) error {
	return runProtoConvert(env, args, "proto_encode", "encode to", "the JSON document", "the protobuf message",
		func(typ, input string, m proto.Message, raw []byte) ([]byte, error) {
			if err := EncodeProtoJSON(raw, m); err != nil {
				return nil, fmt.Errorf("encode %s as %s: %w", inputName(input), typ, err)
			}
			out, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
			if err != nil {
				return nil, fmt.Errorf("marshal %s: %w", typ, err)
			}
			return out, nil
		})
}

// runProtoConvert is proto_decode and proto_encode: the same flags, input
// and output; convert turns the input into the output for a message of the
// named type.
func runProtoConvert(env *Env, args []string, name, verb, in, out string, convert func(typ, input string, m proto.Message, raw []byte) ([]byte, error)) error {
	fs := newFlags(env, "configtxlator "+name)
	var typ, input, output string
	fs.StringVar(&typ, "type", "", "The type of protobuf structure to "+verb+": "+configtxlatorTypes)
	fs.StringVar(&input, "input", "", "A file containing "+in+" (default stdin)")
	fs.StringVar(&output, "output", "", "A file to write "+out+" to (default stdout)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	m, err := messageOfType(typ)
	if err != nil {
		return err
	}
	raw, err := readInput(input)
	if err != nil {
		return err
	}
	res, err := convert(typ, input, m, raw)
	if err != nil {
		return err
	}
	return writeOutput(env, output, res)
}

func runComputeUpdate(_ context.Context, env *Env, args []string) error {
	fs := newFlags(env, "configtxlator compute_update")
	var channel, original, updated, output string
	fs.StringVar(&channel, "channel_id", "", "The name of the channel for this update (required)")
	fs.StringVar(&original, "original", "", "The original config message (common.Config protobuf file, required)")
	fs.StringVar(&updated, "updated", "", "The updated config message (common.Config protobuf file, required)")
	fs.StringVar(&output, "output", "", "A file to write the common.ConfigUpdate protobuf to (default stdout)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if channel == "" || original == "" || updated == "" {
		return fmt.Errorf("--channel_id, --original and --updated are required")
	}
	orig, err := readConfig(original)
	if err != nil {
		return err
	}
	upd, err := readConfig(updated)
	if err != nil {
		return err
	}
	update, err := client.ComputeUpdate(channel, orig, upd)
	if err != nil {
		return err
	}
	out, err := proto.MarshalOptions{Deterministic: true}.Marshal(update)
	if err != nil {
		return err
	}
	return writeOutput(env, output, out)
}

func readConfig(path string) (*cb.Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	cfg := &cb.Config{}
	if err := proto.Unmarshal(raw, cfg); err != nil {
		return nil, fmt.Errorf("%s is not a common.Config protobuf (encode JSON first with weft configtxlator proto_encode --type common.Config): %w", path, err)
	}
	if cfg.ChannelGroup == nil {
		return nil, fmt.Errorf("%s holds no channel_group: is it a common.Config (not a block or a JSON file)?", path)
	}
	return cfg, nil
}

// messageOfType returns a new message of the registered type name.
func messageOfType(name string) (proto.Message, error) {
	if name == "" {
		return nil, fmt.Errorf("name the message type with --type (%s)", configtxlatorTypes)
	}
	mt, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(name))
	if err != nil {
		return nil, fmt.Errorf("unknown message type %q: give %s", name, configtxlatorTypes)
	}
	return mt.New().Interface(), nil
}

func readInput(path string) ([]byte, error) {
	if path == "" || path == "/dev/stdin" {
		return io.ReadAll(os.Stdin)
	}
	return os.ReadFile(path)
}

func inputName(path string) string {
	if path == "" {
		return "stdin"
	}
	return path
}

func writeOutput(env *Env, path string, data []byte) error {
	if path == "" || path == "/dev/stdout" {
		_, err := env.Stdout.Write(data)
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

var jsonOut = protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}

// DecodeProtoJSON returns m as configtxlator's JSON (see above), indented.
func DecodeProtoJSON(m proto.Message) ([]byte, error) {
	v, err := toJSONValue(m, "")
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// EncodeProtoJSON fills m from configtxlator's JSON: opaque fields may be
// given either as base64 strings or as the JSON of their message.
func EncodeProtoJSON(raw []byte, m proto.Message) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	return fromJSONValue(v, m, "", string(m.ProtoReflect().Descriptor().FullName()))
}

func isWellKnown(md protoreflect.MessageDescriptor) bool {
	return strings.HasPrefix(string(md.FullName()), "google.protobuf.")
}

// toJSONValue returns m as a generic JSON value with its known opaque fields
// expanded. key is the map key or list index m was found under.
func toJSONValue(m proto.Message, key string) (any, error) {
	raw, err := jsonOut.Marshal(m)
	if err != nil {
		return nil, err
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	obj, ok := v.(map[string]any)
	if !ok || isWellKnown(m.ProtoReflect().Descriptor()) {
		return v, nil
	}
	rm := m.ProtoReflect()
	rm.Range(func(fd protoreflect.FieldDescriptor, fv protoreflect.Value) bool {
		name := string(fd.Name())
		switch {
		case fd.IsMap():
			out, ok := obj[name].(map[string]any)
			if !ok || fd.MapValue().Kind() != protoreflect.MessageKind {
				return true
			}
			fv.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				out[k.String()], err = toJSONValue(mv.Message().Interface(), k.String())
				return err == nil
			})
		case fd.IsList():
			arr, ok := obj[name].([]any)
			if !ok {
				return true
			}
			list := fv.List()
			for i := 0; i < list.Len() && i < len(arr) && err == nil; i++ {
				k := strconv.Itoa(i)
				switch fd.Kind() {
				case protoreflect.MessageKind:
					arr[i], err = toJSONValue(list.Get(i).Message().Interface(), k)
				case protoreflect.BytesKind:
					if inner := opaqueType(rm, fd, k); inner != nil && proto.Unmarshal(list.Get(i).Bytes(), inner) == nil {
						arr[i], err = toJSONValue(inner, k)
					}
				}
			}
		case fd.Kind() == protoreflect.MessageKind:
			obj[name], err = toJSONValue(fv.Message().Interface(), "")
		case fd.Kind() == protoreflect.BytesKind:
			if inner := opaqueType(rm, fd, key); inner != nil && proto.Unmarshal(fv.Bytes(), inner) == nil {
				obj[name], err = toJSONValue(inner, key)
			}
		}
		return err == nil
	})
	return obj, err
}

// fromJSONValue fills m from v; path names the place for errors.
func fromJSONValue(v any, m proto.Message, key, path string) error {
	rm := m.ProtoReflect()
	md := rm.Descriptor()
	obj, ok := v.(map[string]any)
	if !ok || isWellKnown(md) {
		return unmarshalJSON(v, m, path)
	}
	fields := md.Fields()
	deferred := map[protoreflect.FieldDescriptor]any{}
	for jk, jv := range obj {
		fd := fields.ByName(protoreflect.Name(jk))
		if fd == nil {
			fd = fields.ByJSONName(jk)
		}
		if fd == nil || jv == nil {
			continue // protojson names unknown fields
		}
		p := path + "." + jk
		switch {
		case fd.IsMap():
			mo, ok := jv.(map[string]any)
			if !ok || fd.MapValue().Kind() != protoreflect.MessageKind {
				continue
			}
			for k, ev := range mo {
				child := rm.NewField(fd).Map().NewValue().Message().Interface()
				if err := fromJSONValue(ev, child, k, p+"."+k); err != nil {
					return err
				}
				var err error
				if mo[k], err = plainJSON(child); err != nil {
					return err
				}
			}
		case fd.IsList():
			arr, ok := jv.([]any)
			if !ok {
				continue
			}
			switch fd.Kind() {
			case protoreflect.MessageKind:
				for i, ev := range arr {
					child := rm.NewField(fd).List().NewElement().Message().Interface()
					if err := fromJSONValue(ev, child, strconv.Itoa(i), fmt.Sprintf("%s[%d]", p, i)); err != nil {
						return err
					}
					var err error
					if arr[i], err = plainJSON(child); err != nil {
						return err
					}
				}
			case protoreflect.BytesKind:
				deferred[fd] = jv
				delete(obj, jk)
			}
		case fd.Kind() == protoreflect.MessageKind:
			child := rm.NewField(fd).Message().Interface()
			if err := fromJSONValue(jv, child, "", p); err != nil {
				return err
			}
			var err error
			if obj[jk], err = plainJSON(child); err != nil {
				return err
			}
		case fd.Kind() == protoreflect.BytesKind:
			if _, isString := jv.(string); !isString {
				deferred[fd] = jv
				delete(obj, jk)
			}
		}
	}
	if err := unmarshalJSON(obj, m, path); err != nil {
		return err
	}
	// Opaque fields last: their type may depend on the fields just set
	// (a payload's header type, a policy's type).
	for fd, jv := range deferred {
		p := path + "." + string(fd.Name())
		if fd.IsList() {
			list := rm.Mutable(fd).List()
			for i, ev := range jv.([]any) {
				b, err := opaqueBytes(ev, rm, fd, strconv.Itoa(i), fmt.Sprintf("%s[%d]", p, i))
				if err != nil {
					return err
				}
				list.Append(protoreflect.ValueOfBytes(b))
			}
			continue
		}
		b, err := opaqueBytes(jv, rm, fd, key, p)
		if err != nil {
			return err
		}
		rm.Set(fd, protoreflect.ValueOfBytes(b))
	}
	return nil
}

// opaqueBytes encodes the value of an opaque bytes field: base64 text as is,
// a JSON object as the message the field holds in its context.
func opaqueBytes(v any, parent protoreflect.Message, fd protoreflect.FieldDescriptor, key, path string) ([]byte, error) {
	if s, ok := v.(string); ok {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("%s: not base64: %w", path, err)
		}
		return b, nil
	}
	inner := opaqueType(parent, fd, key)
	if inner == nil {
		return nil, fmt.Errorf("%s: give base64 bytes; weft does not know which message this field holds here", path)
	}
	if err := fromJSONValue(v, inner, key, path); err != nil {
		return nil, err
	}
	return proto.MarshalOptions{Deterministic: true}.Marshal(inner)
}

func plainJSON(m proto.Message) (any, error) {
	raw, err := protojson.Marshal(m)
	if err != nil {
		return nil, err
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	return v, dec.Decode(&v)
}

func unmarshalJSON(v any, m proto.Message, path string) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := protojson.Unmarshal(raw, m); err != nil {
		return fmt.Errorf("%s (%s): %w", strings.TrimPrefix(path, "."), m.ProtoReflect().Descriptor().FullName(), err)
	}
	return nil
}

// configValueTypes maps a config value's key to the message it holds.
var configValueTypes = map[string]func() proto.Message{
	"HashingAlgorithm":          func() proto.Message { return &cb.HashingAlgorithm{} },
	"BlockDataHashingStructure": func() proto.Message { return &cb.BlockDataHashingStructure{} },
	"OrdererAddresses":          func() proto.Message { return &cb.OrdererAddresses{} },
	"Endpoints":                 func() proto.Message { return &cb.OrdererAddresses{} },
	"Consortium":                func() proto.Message { return &cb.Consortium{} },
	"Capabilities":              func() proto.Message { return &cb.Capabilities{} },
	"Orderers":                  func() proto.Message { return &cb.Orderers{} },
	"ConsensusType":             func() proto.Message { return &ab.ConsensusType{} },
	"BatchSize":                 func() proto.Message { return &ab.BatchSize{} },
	"BatchTimeout":              func() proto.Message { return &ab.BatchTimeout{} },
	"ChannelRestrictions":       func() proto.Message { return &ab.ChannelRestrictions{} },
	"KafkaBrokers":              func() proto.Message { return &ab.KafkaBrokers{} },
	"MSP":                       func() proto.Message { return &mspb.MSPConfig{} },
	"AnchorPeers":               func() proto.Message { return &pb.AnchorPeers{} },
	"ACLs":                      func() proto.Message { return &pb.ACLs{} },
}

// opaqueType returns a new message of the type that bytes field fd of parent
// holds, or nil when it is not known (the field stays base64). key is the map
// key or list index parent (or, for lists of bytes, the element) is found under.
func opaqueType(parent protoreflect.Message, fd protoreflect.FieldDescriptor, key string) proto.Message {
	field := string(parent.Descriptor().FullName()) + "." + string(fd.Name())
	switch field {
	case "common.Envelope.payload":
		return &cb.Payload{}
	case "common.Header.channel_header":
		return &cb.ChannelHeader{}
	case "common.Header.signature_header", "common.ConfigSignature.signature_header",
		"common.MetadataSignature.signature_header", "protos.TransactionAction.header":
		return &cb.SignatureHeader{}
	case "common.SignatureHeader.creator", "protos.Endorsement.endorser":
		return &mspb.SerializedIdentity{}
	case "common.BlockData.data":
		return &cb.Envelope{}
	case "common.BlockMetadata.metadata":
		if key == strconv.Itoa(int(cb.BlockMetadataIndex_SIGNATURES)) {
			return &cb.Metadata{}
		}
	case "common.Metadata.value":
		if key == strconv.Itoa(int(cb.BlockMetadataIndex_SIGNATURES)) {
			return &cb.OrdererBlockMetadata{}
		}
	case "common.OrdererBlockMetadata.consenter_metadata":
		return &etcdraft.BlockMetadata{}
	case "common.ConfigUpdateEnvelope.config_update":
		return &cb.ConfigUpdate{}
	case "common.ConfigValue.value":
		if f, ok := configValueTypes[key]; ok {
			return f()
		}
	case "common.Policy.value":
		switch cb.Policy_PolicyType(parent.Interface().(*cb.Policy).GetType()) {
		case cb.Policy_SIGNATURE:
			return &cb.SignaturePolicyEnvelope{}
		case cb.Policy_IMPLICIT_META:
			return &cb.ImplicitMetaPolicy{}
		}
	case "common.Payload.data":
		ch := &cb.ChannelHeader{}
		if proto.Unmarshal(parent.Interface().(*cb.Payload).GetHeader().GetChannelHeader(), ch) != nil {
			return nil
		}
		switch cb.HeaderType(ch.Type) {
		case cb.HeaderType_CONFIG:
			return &cb.ConfigEnvelope{}
		case cb.HeaderType_CONFIG_UPDATE:
			return &cb.ConfigUpdateEnvelope{}
		case cb.HeaderType_ENDORSER_TRANSACTION:
			return &pb.Transaction{}
		case cb.HeaderType_DELIVER_SEEK_INFO:
			return &ab.SeekInfo{}
		}
	case "common.MSPPrincipal.principal":
		switch parent.Interface().(*mspb.MSPPrincipal).GetPrincipalClassification() {
		case mspb.MSPPrincipal_ROLE:
			return &mspb.MSPRole{}
		case mspb.MSPPrincipal_ORGANIZATION_UNIT:
			return &mspb.OrganizationUnit{}
		case mspb.MSPPrincipal_IDENTITY:
			return &mspb.SerializedIdentity{}
		case mspb.MSPPrincipal_ANONYMITY:
			return &mspb.MSPIdentityAnonymity{}
		case mspb.MSPPrincipal_COMBINED:
			return &mspb.CombinedPrincipal{}
		}
	case "orderer.ConsensusType.metadata":
		if parent.Interface().(*ab.ConsensusType).GetType() == "etcdraft" {
			return &etcdraft.ConfigMetadata{}
		}
	case "msp.MSPConfig.config":
		if parent.Interface().(*mspb.MSPConfig).GetType() == 0 {
			return &mspb.FabricMSPConfig{}
		}
	case "protos.TransactionAction.payload":
		return &pb.ChaincodeActionPayload{}
	case "protos.ChaincodeActionPayload.chaincode_proposal_payload":
		return &pb.ChaincodeProposalPayload{}
	case "protos.ChaincodeProposalPayload.input":
		return &pb.ChaincodeInvocationSpec{}
	case "protos.ChaincodeEndorsedAction.proposal_response_payload":
		return &pb.ProposalResponsePayload{}
	case "protos.ProposalResponsePayload.extension":
		return &pb.ChaincodeAction{}
	case "protos.ChaincodeAction.results":
		return &rwset.TxReadWriteSet{}
	case "protos.ChaincodeAction.events":
		return &pb.ChaincodeEvent{}
	case "rwset.NsReadWriteSet.rwset":
		return &kvrwset.KVRWSet{}
	}
	return nil
}
