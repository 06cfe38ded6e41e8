//! actix-web wiring: routes, shared state, and [`run`] on a bound listener.
