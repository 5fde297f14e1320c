package layer2

import "time"

// DefaultBurst is when unsolicited announcements are sent after a VIP is
// gained, counted from the first. The first goes out at once: it is what
// moves traffic. Linux applies a gratuitous ARP request (sender IP = target
// IP) and a neighbour advertisement with the Override flag to an existing
// entry immediately, whatever its ARP locktime (1 s by default); the
// repeats cover a lost packet and clients that only honour announcements
// outside the locktime, hence one past the 1 s mark. Five packets per VIP
// and interface over two seconds cost nothing on a LAN.
var DefaultBurst = []time.Duration{0, 100 * time.Millisecond, 400 * time.Millisecond, 1100 * time.Millisecond, 2 * time.Second}
