// Package ccpackage reads Fabric chaincode install packages: a tar.gz holding
// metadata.json and code.tar.gz.
//
// It owns the archive handling that the built-in launcher (peer/chaincode)
// and the external builders (peer/chaincode/externalbuilder) share: reading
// named files out of a tar.gz and extracting code.tar.gz into a folder.
//
// Guarantees: Extract writes only regular files and folders, and only below
// the folder it is given; any other entry type (symbolic or hard links,
// devices) and any entry whose path would leave the folder is refused with an
// error naming the entry, as Fabric requires of code.tar.gz. Every walk of an
// archive is bounded by Limits (peer.limits.chaincodePackage): its
// uncompressed size, headers included, its number of entries and the depth
// of its paths. A file whose declared size would exceed the size limit is
// refused before any of it is read or written, so a compression bomb stops
// at the limit; the error (*LimitError) names the archive, the entry and the
// configuration key of the limit. A file read into memory is refused past
// 256 MiB, never truncated.
//
// It never interprets metadata.json: callers decode the fields they need.
package ccpackage
