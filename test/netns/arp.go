package netns

import (
	"fmt"
	"net"

	"github.com/mdlayher/arp"
)

// DialARP opens an ARP client on interface iface of the named namespace.
// The socket stays bound to that namespace's link after Do returns.
func DialARP(name, iface string) (*arp.Client, error) {
	var c *arp.Client
	err := Do(name, func() error {
		ifi, err := net.InterfaceByName(iface)
		if err != nil {
			return fmt.Errorf("interface %s in namespace %s: %w", iface, name, err)
		}
		c, err = arp.Dial(ifi)
		return err
	})
	return c, err
}
