package jobstore

// BackendPID exposes the notifier's live backend process id (0: none) so
// tests can terminate its connection.
func (n *JobNotifier) BackendPID() uint32 { return n.pid.Load() }
