"""The life of a generation: start, the scenes (submit, hand-over, complete), finish,
failure; and what drives it: the queue, leases, the poller, the reconciler, the ticker."""
