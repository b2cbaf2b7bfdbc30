// Package pki is dynamod's cluster public-key infrastructure: a cluster CA,
// the node and client certificates it issues, the files they live in, and
// a [Reloader] that serves the current node certificate and CA bundle to
// TLS handshakes, reloading them on demand (SIGHUP) and when the files
// change.
//
// # Certificates
//
//   - The CA ([NewCA]) is a self-signed ECDSA P-256 certificate, valid ten
//     years by default, that may sign leaves only (path length 0).
//   - A node certificate ([CA.IssueNode]) has the node's name as its
//     CommonName, the organizational unit [NodeOU], DNS SANs for the name
//     (when it is a host name) and the given host names, IP SANs for the
//     given addresses, and both the server and the client extended key
//     usages: one certificate serves both ends of a node-to-node
//     connection.
//   - A client certificate ([CA.IssueClient]) has the organizational unit
//     [ClientOU] and the client usage only. [NodeName] refuses it, so a
//     client certificate from the cluster CA can never act as a node.
//
// [NodeName] is the rule that turns a verified certificate into a node
// name; [Reloader.TLSConfig] applies it to every handshake, and the
// transport takes the peer's node name from it (cmd/dynamod sets
// transport.Config.PeerName to NodeName).
//
// # Files
//
// Certificates and keys are PEM files. [WriteFile] writes keys 0600 and
// certificates 0644 and refuses to replace an existing file unless asked.
// A CA file may hold several CA certificates (a bundle): every one of them
// is trusted, which is how a CA is rotated without downtime (add the new
// CA to every bundle, reissue the node certificates, remove the old CA).
//
// # Reloading
//
// A [Reloader] holds the current node certificate and CA pool. The
// [tls.Config] it returns reads them at each handshake (GetCertificate,
// GetClientCertificate) and verifies the peer's chain against the current
// pool in VerifyConnection, so a new certificate or CA applies to new
// connections without a restart; open connections keep the identity they
// were made with. A reload that fails (a file missing, unparsable, a key
// that does not match, a certificate that is not a node certificate or
// does not chain to the new bundle) keeps the last good material.
//
// pki imports no other dynamod package and only the standard library.
package pki
