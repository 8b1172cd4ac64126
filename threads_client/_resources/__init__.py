"""API resources, one module per part of the URL tree."""
