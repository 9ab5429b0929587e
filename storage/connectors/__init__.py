"""Connectors to the systems that hold account data: a CSV export, Salesforce and NetSuite."""
