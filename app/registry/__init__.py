"""The registry (登记): units, people, roles, platforms, filings, bind codes, sealed credentials."""
