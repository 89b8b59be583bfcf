"""One module per AWS service (and the table's aggregates): the only code that calls AWS."""
