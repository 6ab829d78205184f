"""alm-batch: mark learners complete in Adobe Learning Manager in bulk from HR spreadsheets."""

__version__ = "0.1.0"
