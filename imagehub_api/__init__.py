"""HTTP layer: REST API, portal pages, transport and DICOMweb. Thin: parse, call a service, render."""
