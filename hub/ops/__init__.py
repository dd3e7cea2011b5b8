"""What operators do, apart from the CLI that asks for it: dead letters and retries seen and
replayed, a report's history, identity reveals, the security plan. The CLI (hub.cli)
parses, calls these and prints; any other front end can call them the same way. The audit
trail they write is hub.audit, which the data plane writes too (rules reloads)."""
