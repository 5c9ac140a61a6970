package broadcast

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"

	mspproto "github.com/hyperledger/fabric-protos-go-apiv2/msp"
	"google.golang.org/protobuf/proto"
)

// describeCreator names a serialized identity for error texts: MSP id and
// certificate subject, or a note that it does not decode.
func describeCreator(serialized []byte) string {
	return DescribeIdentity(serialized)
}

// DescribeIdentity renders a serialized msp.SerializedIdentity as
// `Org1MSP "CN=User1@org1.example.com,..."` for error messages.
func DescribeIdentity(serialized []byte) string {
	sid := &mspproto.SerializedIdentity{}
	if err := proto.Unmarshal(serialized, sid); err != nil {
		return "(undecodable identity)"
	}
	blk, _ := pem.Decode(sid.IdBytes)
	if blk == nil {
		return fmt.Sprintf("%s (identity without a PEM certificate)", sid.Mspid)
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return fmt.Sprintf("%s (unparsable certificate)", sid.Mspid)
	}
	return fmt.Sprintf("%s %q", sid.Mspid, cert.Subject.String())
}
