//! EOSC REST: metric routes, listings and search over HTTP.
