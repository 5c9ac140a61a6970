// Package participation serves the channel participation API of the admin
// endpoint, with the paths, JSON shapes, status codes and {"error": "..."}
// bodies Fabric's osnadmin expects:
//
//	GET    /participation/v1/channels         200 ChannelList
//	POST   /participation/v1/channels         201 ChannelInfo, Location header (multipart field "config-block")
//	GET    /participation/v1/channels/{name}  200 ChannelInfo | 404
//	DELETE /participation/v1/channels/{name}  204 | 404
//
// Joining, listing and removing are done by a Registrar; this package only
// speaks HTTP. Mutual TLS is the server's job (ServerTLSConfig).
package participation
