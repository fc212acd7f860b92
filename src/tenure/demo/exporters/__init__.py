"""The demo company written in each source's own shapes (API pages, ELT warehouse tables)."""
