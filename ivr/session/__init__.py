"""Call sessions: one call from answer to hangup; the only place that wires the parts together."""
