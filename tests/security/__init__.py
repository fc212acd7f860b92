"""Tests reproducing the findings of the security review (issue 17), one file per finding."""
