"""Reporting: text tables now; figures and the HTML report live beside them."""
