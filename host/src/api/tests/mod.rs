//! Tests of the API through its router, on a real embedded store: error
//! envelopes and 422s, auth and namespaces, every resource's routes, and a
//! property test that random bodies never make a route fail with a 500.

mod errors;
mod property;
mod resources;
mod support;
mod syncs;
