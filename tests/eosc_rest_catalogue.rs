//! EOSC REST: the catalogue routes (metric definitions, unit types, metric types) over HTTP.
