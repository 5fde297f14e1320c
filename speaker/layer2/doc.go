// Package layer2 makes this node answer for the VIPs it owns on the local
// network: ARP replies for IPv4, neighbour advertisements for IPv6, and on
// gaining a VIP a burst of unsolicited announcements that clients apply to
// the neighbour entries they already have. It is the only importer of
// mdlayher/arp and mdlayher/ndp. What to announce is decided elsewhere
// (speaker/election); this package only sends packets.
package layer2
