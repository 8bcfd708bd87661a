"""The command API's routers, one module per resource."""
