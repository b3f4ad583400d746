package inventory

// NodeImages returns the images a node (by Node name) holds, sorted, and
// whether user pods may be steered to it; nil and false for a node the
// inventory does not know. The slice is shared: do not modify it.
func (inv *Inventory) NodeImages(name string) ([]string, bool) {
	inv.mu.RLock()
	defer inv.mu.RUnlock()
	nd := inv.nodes[name]
	if nd == nil {
		return nil, false
	}
	return nd.held, nd.eligible
}
