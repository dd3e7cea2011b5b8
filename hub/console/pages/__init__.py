"""The console's pages, one module each: network, sla, reports, letters, routing, audit."""
