"""Connectors: bring accounts, subscriptions, orders, tickets and events from where they live.

A connector pulls a source's records page by page (`base.Connector.pull`); the sync runner
(`sync.run`) stages each page with its resume cursor in one transaction, then the connector's
`transform` turns everything staged into canonical tables, which load through the validated
loader. So a sync interrupted half-way resumes where it stopped, and re-running it changes nothing.
"""
