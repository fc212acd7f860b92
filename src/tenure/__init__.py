"""Tenure: customer-success metrics computed exactly from your own data.

import tenure
ws = tenure.connect("duckdb:///tenure.duckdb")
ws.load("accounts", "accounts.csv")
"""

from tenure.errors import TenureError
from tenure.workspace import Workspace, connect

__all__ = ["TenureError", "Workspace", "connect"]
__version__ = "0.1.0"
