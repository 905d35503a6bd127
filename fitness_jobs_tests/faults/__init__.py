"""Fault injection on PostgreSQL: lost connections, killed processes, a restarting server,
a missing privilege, absurd input, late or repeated runs, a daemon that was down."""
