"""The files adapter: CSV, JSON Lines and XLSX files dropped on an SFTP server or uploaded through
the API, read as a stream and sent on in batches with a durable cursor (docs/erp-files.md)."""
