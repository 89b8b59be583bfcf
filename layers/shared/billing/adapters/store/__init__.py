"""DynamoDB storage, one module per aggregate over the single table (`table`); the only package
that talks to DynamoDB. Storage errors are mapped in `errors`."""
