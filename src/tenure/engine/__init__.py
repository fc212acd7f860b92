"""The engine layer: connections, period calendars, segments and filters, all as Ibis expressions."""
