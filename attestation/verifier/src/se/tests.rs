//! End-to-end tests of SE verification.
