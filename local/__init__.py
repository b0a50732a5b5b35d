"""The embedded AWS runtime behind `make local`, and the AWS event shapes it delivers."""
