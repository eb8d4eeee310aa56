package groupcommit

// PendingForTest is how many calls wait for a flusher.
func (b *Batcher[In, Out]) PendingForTest() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.pending)
}
