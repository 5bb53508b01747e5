//! Arca Key Broker Service.

pub mod metrics;
pub mod session;
